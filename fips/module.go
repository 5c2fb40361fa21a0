package fips

import (
	"path"
	"slices"
)

// Kind says what a [Module] is.
type Kind string

// Kinds of module.
const (
	// CryptoModule is a validated cryptographic module (a CMVP certificate).
	CryptoModule Kind = "crypto-module"
	// EntropySource is a validated entropy source (an ESV certificate).
	EntropySource Kind = "entropy-source"
	// Binding is a runtime that does its crypto through another module, such
	// as Python through OpenSSL. It has no certificate of its own.
	Binding Kind = "binding"
)

// Module describes one FIPS module hardvm knows about: what it is, which
// certificate covers it and where its files are in an image.
type Module struct {
	// Name identifies the module in tables and reports.
	Name string `json:"name"`
	// Title is the module's name as its certificate states it.
	Title string `json:"title"`
	Kind  Kind   `json:"kind"`
	// Version is the validated version of the module.
	Version string `json:"version,omitempty"`
	// Certificate is the CMVP or ESV certificate ("CMVP #4985", "ESV #191"),
	// empty for a [Binding] or a module still in process.
	Certificate string `json:"certificate,omitempty"`
	// Files are the module's files in an image, absolute.
	Files []string `json:"files,omitempty"`
	// Uses names the module a Binding does its crypto through.
	Uses string `json:"uses,omitempty"`
	// Note says what else a user must know (how the module is selected).
	Note string `json:"note,omitempty"`
}

// Names of the modules in [Modules].
const (
	OpenSSLProvider312 = "openssl-fips-provider-3.1.2"
	OpenSSLProvider309 = "openssl-fips-provider-3.0.9"
	JitterEntropy      = "jitterentropy"
	BouncyCastleFIPS21 = "bouncycastle-fips-2.1"
	BouncyCastleFIPS20 = "bouncycastle-fips-2.0"
	BouncyCastleFIPS10 = "bouncycastle-fips-1.0"
	BouncyCastleJent   = "bouncycastle-rng-jent"
	GoFIPS140          = "go-fips140-v1.0.0"
	PythonOpenSSL      = "python-openssl"
)

// modules is the one literal table of module descriptions. Certificate
// numbers are the ones Chainguard publishes for its packages (the mapping in
// its FIPS commitment and image SBOM tooling); Go's module is listed by the
// Go project as in process with the CMVP.
var modules = []Module{
	{Name: OpenSSLProvider312, Title: "OpenSSL FIPS Provider", Kind: CryptoModule, Version: "3.1.2",
		Certificate: "CMVP #4985", Files: []string{"/usr/lib/ossl-modules/fips.so"},
		Note: "loaded by libcrypto 3 through openssl.cnf; its integrity MAC is in fipsmodule.cnf"},
	{Name: OpenSSLProvider309, Title: "OpenSSL FIPS Provider", Kind: CryptoModule, Version: "3.0.9",
		Certificate: "CMVP #4856", Files: []string{"/usr/lib/ossl-modules/fips.so"},
		Note: "loaded by libcrypto 3 through openssl.cnf; its integrity MAC is in fipsmodule.cnf"},
	{Name: JitterEntropy, Title: "CPU Time Jitter RNG Entropy Source", Kind: EntropySource,
		Certificate: "ESV #191", Files: []string{"/usr/lib/libcrypto.so.3", "/usr/lib/libjitterentropy.so.3"},
		Note: "user-space entropy: OpenSSL seeds its DRBG from it with `seed = JITTER`, not from the kernel"},
	{Name: BouncyCastleFIPS21, Title: "BC-FJA (Bouncy Castle FIPS Java API)", Kind: CryptoModule, Version: "2.1",
		Certificate: "CMVP #4943", Note: "first in java.security with org.bouncycastle.fips.approved_only=true"},
	{Name: BouncyCastleFIPS20, Title: "BC-FJA (Bouncy Castle FIPS Java API)", Kind: CryptoModule, Version: "2.0.0",
		Certificate: "CMVP #4743", Note: "first in java.security with org.bouncycastle.fips.approved_only=true"},
	{Name: BouncyCastleFIPS10, Title: "BC-FJA (Bouncy Castle FIPS Java API)", Kind: CryptoModule, Version: "1.0.2",
		Certificate: "CMVP #4616", Note: "first in java.security with org.bouncycastle.fips.approved_only=true"},
	{Name: BouncyCastleJent, Title: "Bouncy Castle jitter entropy source", Kind: EntropySource,
		Certificate: "ESV #266", Note: "user-space entropy for BouncyCastle FIPS"},
	{Name: GoFIPS140, Title: "Go Cryptographic Module", Kind: CryptoModule, Version: "v1.0.0",
		Note: "compiled into each Go program (GOFIPS140=v1.0.0) and enabled with GODEBUG=fips140=on; " +
			"CMVP validation in process (CAVP A6650), so no certificate yet"},
	{Name: PythonOpenSSL, Title: "Python hashlib and ssl through OpenSSL", Kind: Binding, Uses: OpenSSLProvider312,
		Note: "Python's hashlib and ssl call libcrypto, which routes to the OpenSSL FIPS provider"},
}

// Modules returns the module descriptions, a copy the caller may change.
func Modules() []Module {
	out := make([]Module, len(modules))
	for i, m := range modules {
		m.Files = slices.Clone(m.Files)
		out[i] = m
	}
	return out
}

// LookupModule returns the module with the given name.
func LookupModule(name string) (Module, bool) {
	for _, m := range Modules() {
		if m.Name == name {
			return m, true
		}
	}
	return Module{}, false
}

// Provider says that a package of a repository family provides a module.
type Provider struct {
	Family  string // repository family: "wolfi" or "chainguard"
	Package string // package name
	// MinVersion is the first package version that provides the module
	// ("" = every version); VersionPrefix restricts to versions starting with
	// it ("" = any).
	MinVersion    string
	VersionPrefix string
	Module        string // Module.Name
}

// providers is the one literal table of which package provides which module.
// Package names are Wolfi's; Chainguard OS uses the same names.
var providers = func() []Provider {
	base := []Provider{
		{Package: "openssl-provider-fips-3.1.2", Module: OpenSSLProvider312},
		{Package: "openssl-provider-fips", VersionPrefix: "3.1.2-", Module: OpenSSLProvider312},
		{Package: "openssl-provider-fips", VersionPrefix: "3.0.9-", Module: OpenSSLProvider309},
		// libcrypto3 links jitterentropy in and seeds from it since 3.4.0-r2.
		{Package: "libcrypto3", MinVersion: "3.4.0-r2", Module: JitterEntropy},
		{Package: "jitterentropy-library", Module: JitterEntropy},
		{Package: "bouncycastle-fips", VersionPrefix: "2.1.", Module: BouncyCastleFIPS21},
		{Package: "bouncycastle-fips", VersionPrefix: "2.0.0-", Module: BouncyCastleFIPS20},
		{Package: "bouncycastle-fips", VersionPrefix: "1.0.2-", Module: BouncyCastleFIPS10},
		{Package: "bouncycastle-fips-1.0", Module: BouncyCastleFIPS10},
		{Package: "bouncycastle-rng-jent", Module: BouncyCastleJent},
	}
	var out []Provider
	for _, fam := range []string{"wolfi", "chainguard"} {
		for _, p := range base {
			p.Family = fam
			out = append(out, p)
		}
	}
	return out
}()

// Providers returns the packages of a repository family that provide FIPS
// modules.
func Providers(family string) []Provider {
	var out []Provider
	for _, p := range providers {
		if p.Family == family {
			out = append(out, p)
		}
	}
	return out
}

// providerOf returns the module an installed package provides, if any.
func providerOf(name, version string) (Module, bool) {
	for _, p := range providers {
		if p.Package != name {
			continue
		}
		if p.VersionPrefix != "" && !hasPrefix(version, p.VersionPrefix) {
			continue
		}
		if p.MinVersion != "" && !versionAtLeast(version, p.MinVersion) {
			continue
		}
		return LookupModule(p.Module)
	}
	return Module{}, false
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// Substitution is how a spec with fips: true changes the packages of an
// image: when the package When is selected (or always, if When is empty), the
// Install packages are added, and When is dropped if Replace is set.
type Substitution struct {
	Family  string   `json:"family"`
	When    string   `json:"when,omitempty"`
	Replace bool     `json:"replace,omitempty"`
	Install []string `json:"install"`
	Module  string   `json:"module"` // the module the substitution brings in
}

// substitutions is the one literal table of FIPS flavours.
var substitutions = func() []Substitution {
	base := []Substitution{
		// Every FIPS image: the hardened config (openssl.cnf with fips and
		// base providers, fips=yes, seed = JITTER), the validated provider
		// and a libcrypto that carries the jitter entropy source.
		{Install: []string{"openssl-config-fipshardened", "openssl-provider-fips-3.1.2", "libcrypto3"}, Module: OpenSSLProvider312},
		// Older repositories ship openssl.cnf in openssl-config.
		{When: "openssl-config", Replace: true, Install: []string{"openssl-config-fipshardened"}, Module: OpenSSLProvider312},
		// Java: BouncyCastle FIPS and the java.security policy that puts it first.
		{When: "openjdk-17", Install: []string{"bouncycastle-fips", "openjdk-bcfips-policy-140-3-j17"}, Module: BouncyCastleFIPS21},
		{When: "openjdk-21", Install: []string{"bouncycastle-fips", "openjdk-bcfips-policy-140-3-j21"}, Module: BouncyCastleFIPS21},
		{When: "openjdk-25", Install: []string{"bouncycastle-fips", "openjdk-bcfips-policy-140-3-j25"}, Module: BouncyCastleFIPS21},
	}
	var out []Substitution
	for _, fam := range []string{"wolfi", "chainguard"} {
		for _, s := range base {
			s.Family = fam
			s.Install = slices.Clone(s.Install)
			out = append(out, s)
		}
	}
	return out
}()

// Substitutions returns the FIPS flavours of a repository family ("wolfi",
// "chainguard"). Families without FIPS packages (alpine) have none.
func Substitutions(family string) []Substitution {
	var out []Substitution
	for _, s := range substitutions {
		if s.Family == family {
			s.Install = slices.Clone(s.Install)
			out = append(out, s)
		}
	}
	return out
}

// Packages returns the packages every FIPS image of a repository family
// installs, whatever else it selects.
func Packages(family string) []string {
	var out []string
	for _, s := range Substitutions(family) {
		if s.When == "" {
			out = append(out, s.Install...)
		}
	}
	return out
}

// Select applies the substitutions of a family to the packages a spec
// selects and returns the packages a FIPS image installs instead: sorted and
// without duplicates. A family without FIPS packages returns ErrNoFIPS.
func Select(family string, pkgs []string) ([]string, error) {
	subs := Substitutions(family)
	if len(subs) == 0 {
		return nil, &FamilyError{Family: family}
	}
	set := map[string]bool{}
	for _, p := range pkgs {
		set[p] = true
	}
	out := map[string]bool{}
	for p := range set {
		out[p] = true
	}
	for _, s := range subs {
		if s.When != "" && !set[s.When] {
			continue
		}
		if s.Replace {
			delete(out, s.When)
		}
		for _, p := range s.Install {
			out[p] = true
		}
	}
	res := make([]string, 0, len(out))
	for p := range out {
		res = append(res, p)
	}
	slices.Sort(res)
	return res, nil
}

// match reports whether name matches one of the path.Match patterns.
func match(patterns []string, name string) (string, bool) {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return p, true
		}
	}
	return "", false
}
