package fips

import (
	"errors"
	"fmt"
)

var (
	// ErrCheck is the root of every failing check of a [Report].
	ErrCheck = errors.New("fips: check failed")
	// ErrNotFound reports a file a check needs that is not in the image.
	ErrNotFound = fmt.Errorf("%w: file not found", ErrCheck)
	// ErrMAC reports a module whose HMAC does not match the module-mac
	// recorded in its fipsmodule.cnf: the module or its config was changed
	// after `openssl fipsinstall`.
	ErrMAC = fmt.Errorf("%w: module MAC mismatch", ErrCheck)
	// ErrConfig reports an OpenSSL, Java or kernel configuration that does
	// not select the FIPS module as required.
	ErrConfig = fmt.Errorf("%w: configuration", ErrCheck)
	// ErrEntropy reports a missing or unconfigured user-space entropy source.
	ErrEntropy = fmt.Errorf("%w: entropy source", ErrCheck)
	// ErrKernel reports an image that depends on a FIPS-mode kernel.
	ErrKernel = fmt.Errorf("%w: kernel FIPS mode required", ErrCheck)
	// ErrDenied reports an installed package from the deny-list of
	// non-validated crypto libraries.
	ErrDenied = fmt.Errorf("%w: non-validated crypto package installed", ErrCheck)
	// ErrParse reports a configuration or database file that cannot be
	// parsed.
	ErrParse = errors.New("fips: parse error")
	// ErrOption reports an invalid option.
	ErrOption = errors.New("fips: invalid option")
	// ErrTooLarge reports a file larger than the check reads.
	ErrTooLarge = errors.New("fips: file too large")
)

// CheckError is one failing check: which, on which file, what was expected
// and what was found. It unwraps to the sentinel of its check (ErrMAC,
// ErrConfig, ...) and so to ErrCheck.
type CheckError struct {
	Check CheckName
	Path  string
	Want  string
	Got   string
}

func (e *CheckError) Error() string {
	s := "fips: " + string(e.Check)
	if e.Path != "" {
		s += ": " + e.Path
	}
	s += ": want " + e.Want
	if e.Got != "" {
		s += ", got " + e.Got
	}
	return s
}

// Unwrap returns the sentinel for the check.
func (e *CheckError) Unwrap() error { return sentinel(e.Check) }

func sentinel(c CheckName) error {
	switch c {
	case CheckProviderModule:
		return ErrNotFound
	case CheckProviderMAC:
		return ErrMAC
	case CheckEntropy:
		return ErrEntropy
	case CheckKernel:
		return ErrKernel
	case CheckDenyList:
		return ErrDenied
	case CheckConfigInclude, CheckConfigProviders, CheckConfigProperties, CheckJava:
		return ErrConfig
	}
	return ErrCheck
}

// ParseError reports a malformed line of a file the checks parse.
type ParseError struct {
	Path string // the file, as in the image
	Line int    // 1-based line, 0 if unknown
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("fips: %s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("fips: %s: %s", e.Path, e.Msg)
}

// Unwrap returns ErrParse.
func (e *ParseError) Unwrap() error { return ErrParse }

// ErrNoFIPS reports a repository family without FIPS packages.
var ErrNoFIPS = errors.New("fips: repository family has no FIPS packages")

// FamilyError reports a repository family without FIPS packages. It unwraps
// to ErrNoFIPS.
type FamilyError struct{ Family string }

func (e *FamilyError) Error() string {
	return fmt.Sprintf("fips: repository family %q has no FIPS packages (FIPS images need wolfi or chainguard)", e.Family)
}

// Unwrap returns ErrNoFIPS.
func (e *FamilyError) Unwrap() error { return ErrNoFIPS }

// trunc shortens s to n bytes for an error message.
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
