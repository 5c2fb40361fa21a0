package image

import "errors"

// Sentinel errors of package image. Each step adds its own, grouped below;
// typed errors carrying details live next to the code that returns them.
var (
	// ErrMixedRepositories reports a lock that would draw packages from both
	// Wolfi and Chainguard OS repositories.
	ErrMixedRepositories = errors.New("image: Wolfi and Chainguard OS packages mixed")
)
