package aws

import (
	"errors"
	"fmt"
)

var (
	// ErrConfig reports an invalid registrar option.
	ErrConfig = errors.New("aws: invalid configuration")
	// ErrArtifact reports an artifact that breaks AWS's rules; nothing was
	// uploaded.
	ErrArtifact = errors.New("aws: artifact not accepted")
)

// ArtifactError says which artifact was refused and why.
type ArtifactError struct {
	Path string
	Msg  string
	Err  error // a more precise cause, e.g. catalog.ErrDigest
}

func (e *ArtifactError) Error() string { return fmt.Sprintf("aws: %s: %s", e.Path, e.Msg) }

// Unwrap returns ErrArtifact and the cause.
func (e *ArtifactError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrArtifact, e.Err}
	}
	return []error{ErrArtifact}
}
