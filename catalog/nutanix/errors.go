package nutanix

import (
	"errors"
	"fmt"
)

var (
	// ErrArtifact reports an artifact Nutanix would refuse (not a qcow2
	// or raw disk, a qcow2 with a backing file, a size that is not a whole
	// MiB). It is returned before any upload.
	ErrArtifact = errors.New("nutanix: artifact not accepted")
	// ErrOption reports an invalid option or configuration.
	ErrOption = errors.New("nutanix: invalid option")
	// ErrTask reports a Prism task that failed or was aborted.
	ErrTask = errors.New("nutanix: task failed")
	// ErrLocation reports a catalog location this package did not make.
	ErrLocation = errors.New("nutanix: not a nutanix location")
)

// ArtifactError says which rule an artifact breaks, in which file.
type ArtifactError struct {
	Path string // the artifact's file
	Rule string // the platform rule, e.g. "nutanix-image"
	Err  error  // what is wrong
}

func (e *ArtifactError) Error() string {
	return fmt.Sprintf("nutanix: %s breaks rule %s: %v", e.Path, e.Rule, e.Err)
}

// Unwrap returns ErrArtifact and the cause.
func (e *ArtifactError) Unwrap() []error { return []error{ErrArtifact, e.Err} }

// APIError is an answer of Prism Central other than success.
type APIError struct {
	Method, Path string
	Status       int
	Message      string // the message_list of the answer, or its body
}

func (e *APIError) Error() string {
	return fmt.Sprintf("nutanix: %s %s: %d %s", e.Method, e.Path, e.Status, e.Message)
}
