package hardvm

import (
	"errors"
	"fmt"
)

var (
	// ErrRelease is the root of the errors Release, Build and Publish
	// return for a step that failed; the step's own error is wrapped with
	// it in a *StepError.
	ErrRelease = errors.New("hardvm: release failed")
	// ErrNotBootable reports an image without a kernel (its provenance names
	// none): Publish and Release register it only with
	// [PublishNotBootableUnsafe].
	ErrNotBootable = errors.New("hardvm: the image does not boot")
	// ErrUntrusted reports a Publish given nothing to verify the build
	// with: no trusted material and no signer.
	ErrUntrusted = errors.New("hardvm: no trusted key or root to verify the build with")
)

// StepError says which step of the pipeline failed.
type StepError struct {
	Step string // spec, output, resolve, build, fips, boot, assemble, export, sign, verify, catalog, publish
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("hardvm: %s: %v", e.Step, e.Err) }

// Unwrap returns ErrRelease and the step's error.
func (e *StepError) Unwrap() []error { return []error{ErrRelease, e.Err} }

func stepError(step string, err error) error { return &StepError{Step: step, Err: err} }
