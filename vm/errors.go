package vm

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidSpec is the root of every error Validate reports.
	ErrInvalidSpec = errors.New("vm: invalid spec")
	// ErrUnknown reports a name that is not in one of vm's tables (variant,
	// platform, arch, kernel track, format, repository family).
	ErrUnknown = errors.New("vm: unknown name")
	// ErrMixedRepositories reports a spec or package set that draws from both
	// Wolfi and Chainguard OS repositories, which never meet in one image.
	ErrMixedRepositories = errors.New("vm: Wolfi and Chainguard OS repositories mixed")
	// ErrUnsupported reports a combination the tables do not allow, such as
	// the ecs variant on GCP.
	ErrUnsupported = errors.New("vm: unsupported combination")
	// ErrParse reports a spec, ref or version that cannot be parsed.
	ErrParse = errors.New("vm: parse error")
	// ErrPlan reports a replacement that cannot be planned.
	ErrPlan = errors.New("vm: cannot plan replacement")
	// ErrDowngrade reports a plan that would replace nodes with an older
	// image than they run (refused unless [WithDowngrade]). It is an
	// ErrPlan.
	ErrDowngrade = fmt.Errorf("%w: downgrade", ErrPlan)
)

// FieldError is one problem with one field of a [Spec]. Validate returns all
// of them at once, joined with errors.Join; each unwraps to ErrInvalidSpec
// and, where it applies, to a more precise sentinel such as ErrUnknown.
type FieldError struct {
	Field string // the YAML path of the field, e.g. "repositories[1].family"
	Line  int    // the line in the spec file, when known
	Msg   string // what is wrong and what is allowed
	Err   error  // a sentinel, e.g. ErrUnknown or ErrMixedRepositories
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// Unwrap returns ErrInvalidSpec and the precise sentinel.
func (e *FieldError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidSpec, e.Err}
	}
	return []error{ErrInvalidSpec}
}
