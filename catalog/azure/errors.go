package azure

import (
	"errors"
	"fmt"
)

var (
	// ErrArtifact reports an artifact Azure would refuse: not a fixed VHD,
	// a size that breaks the platform's rules. It is returned before any
	// upload.
	ErrArtifact = errors.New("azure: artifact not accepted")
	// ErrOption reports an invalid option or registrar setting.
	ErrOption = errors.New("azure: invalid option")
	// ErrProvisioning reports a gallery resource whose provisioning failed.
	ErrProvisioning = errors.New("azure: provisioning failed")
	// ErrLocation reports a catalog location this package did not make.
	ErrLocation = errors.New("azure: not an azure location")
)

// ArtifactError says which rule an artifact breaks, in which file.
type ArtifactError struct {
	Path string // the artifact's file
	Rule string // the platform rule, e.g. "azure-vhd-fixed"
	Err  error  // what is wrong
}

func (e *ArtifactError) Error() string {
	return fmt.Sprintf("azure: %s breaks rule %s: %v", e.Path, e.Rule, e.Err)
}

// Unwrap returns ErrArtifact and the cause.
func (e *ArtifactError) Unwrap() []error { return []error{ErrArtifact, e.Err} }
