package fips

import (
	"errors"
	"fmt"
	"strings"
)

// PredicateType is the in-toto predicate type of a [Report] when it is
// attested: the predicate of the statement is the Report encoded as JSON.
const PredicateType = "https://hardvm.dev/fips-report/v1"

// CheckName names one check of [Check]. The names are stable: they appear in
// the JSON of a [Report] and policies may refer to them.
type CheckName string

// The checks [Check] runs, in the order a [Report] lists them.
const (
	// CheckProviderModule: the OpenSSL FIPS provider module file is present.
	CheckProviderModule CheckName = "openssl-provider-module"
	// CheckProviderMAC: the module-mac of fipsmodule.cnf equals the
	// HMAC-SHA256 of the module file under the FIPS integrity key.
	CheckProviderMAC CheckName = "openssl-provider-mac"
	// CheckConfigInclude: openssl.cnf includes fipsmodule.cnf.
	CheckConfigInclude CheckName = "openssl-config-include"
	// CheckConfigProviders: openssl.cnf activates the fips and base providers
	// and no other.
	CheckConfigProviders CheckName = "openssl-config-providers"
	// CheckConfigProperties: openssl.cnf sets fips=yes as the default
	// property query.
	CheckConfigProperties CheckName = "openssl-config-properties"
	// CheckEntropy: a user-space entropy source (jitterentropy) is configured
	// as the seed source and its library is present.
	CheckEntropy CheckName = "entropy-source"
	// CheckJava: java.security lists the BouncyCastle FIPS providers first
	// and approved-only mode is on (only when a Java runtime is present).
	CheckJava CheckName = "java-security"
	// CheckKernel: the image does not depend on a FIPS kernel (no fips=1 on
	// its kernel command line).
	CheckKernel CheckName = "kernel-independent"
	// CheckDenyList: no package of the deny-list of non-validated crypto
	// libraries is installed.
	CheckDenyList CheckName = "denied-packages"
)

// Status is the outcome of one check.
type Status string

// Outcomes of a check.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	// NotApplicable: the check does not apply to this image (for example the
	// Java check on an image without a Java runtime). It does not fail the
	// report.
	NotApplicable Status = "not-applicable"
)

// Result is the outcome of one check: what was looked at, what was expected
// and what was found.
type Result struct {
	Check  CheckName `json:"check"`
	Status Status    `json:"status"`
	// Path is the file in the image the check read (absolute, as in the
	// image), if any.
	Path string `json:"path,omitempty"`
	// Want says what the check expected; Got what it found.
	Want string `json:"want,omitempty"`
	Got  string `json:"got,omitempty"`
}

// Err returns nil for a passing or non-applicable result, and a *CheckError
// for a failing one.
func (r Result) Err() error {
	if r.Status != Fail {
		return nil
	}
	return &CheckError{Check: r.Check, Path: r.Path, Want: r.Want, Got: r.Got}
}

// Found is a FIPS module found in the image.
type Found struct {
	Module  string `json:"module"`            // Module.Name
	Version string `json:"version,omitempty"` // version of the providing package, when installed
	Package string `json:"package,omitempty"` // the installed package that provides it
	Path    string `json:"path,omitempty"`    // the module file
	// Certificate is the CMVP or ESV certificate of the module description.
	Certificate string `json:"certificate,omitempty"`
}

// Scope states what the report covers and what it does not.
type Scope struct {
	// Boundary names the module boundary the checks cover.
	Boundary string `json:"boundary"`
	// Excluded lists what lies outside the boundary, such as kernel crypto.
	Excluded []string `json:"excluded"`
}

// DefaultScope is the scope of every report Check makes: user-space crypto
// modules only.
func DefaultScope() Scope {
	return Scope{
		Boundary: "user-space cryptographic modules (OpenSSL FIPS provider, jitterentropy entropy source, " +
			"BouncyCastle FIPS, Go FIPS 140-3 module) and their configuration in the image",
		Excluded: []string{
			"kernel crypto API (disk encryption with dm-crypt/LUKS, IPsec/XFRM, kTLS, dm-verity and dm-integrity hashing)",
			"the kernel's own random number generator (/dev/random, getrandom) where programs use it directly",
			"applications that link a crypto library statically or bundle their own",
		},
	}
}

// Report is what [Check] proves about an image. It is JSON-stable: the field
// names and check names do not change within [PredicateType] v1.
type Report struct {
	// Modules are the FIPS modules found in the image.
	Modules []Found `json:"modules"`
	// Results holds one entry per check, in a fixed order.
	Results []Result `json:"results"`
	// Scope states what the checks cover.
	Scope Scope `json:"scope"`
}

// Passed reports whether every check passed or did not apply, and at least
// one check passed.
func (r *Report) Passed() bool {
	if r == nil || len(r.Results) == 0 {
		return false
	}
	pass := false
	for _, c := range r.Results {
		switch c.Status {
		case Pass:
			pass = true
		case NotApplicable:
		default:
			return false
		}
	}
	return pass
}

// Err returns nil if the report passed, and otherwise all failing checks
// joined (each a *CheckError wrapping [ErrCheck]).
func (r *Report) Err() error {
	if r.Passed() {
		return nil
	}
	var errs []error
	for _, c := range r.Results {
		if err := c.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("%w: no check passed", ErrCheck)
	}
	return errors.Join(errs...)
}

// Result returns the result of the named check and whether it was run.
func (r *Report) Result(name CheckName) (Result, bool) {
	for _, c := range r.Results {
		if c.Check == name {
			return c, true
		}
	}
	return Result{}, false
}

// String renders the report for people: one line per check.
func (r *Report) String() string {
	var b strings.Builder
	verdict := "FAIL"
	if r.Passed() {
		verdict = "PASS"
	}
	fmt.Fprintf(&b, "FIPS (kernel-independent): %s\n", verdict)
	for _, m := range r.Modules {
		fmt.Fprintf(&b, "module %s", m.Module)
		if m.Package != "" {
			fmt.Fprintf(&b, " (%s %s)", m.Package, m.Version)
		}
		if m.Certificate != "" {
			fmt.Fprintf(&b, " %s", m.Certificate)
		}
		b.WriteByte('\n')
	}
	for _, c := range r.Results {
		fmt.Fprintf(&b, "%-15s %s", c.Status, c.Check)
		if c.Path != "" {
			fmt.Fprintf(&b, " %s", c.Path)
		}
		if c.Status == Fail {
			fmt.Fprintf(&b, ": want %s", c.Want)
			if c.Got != "" {
				fmt.Fprintf(&b, ", got %s", c.Got)
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "scope: %s\n", r.Scope.Boundary)
	for _, e := range r.Scope.Excluded {
		fmt.Fprintf(&b, "not covered: %s\n", e)
	}
	return b.String()
}
