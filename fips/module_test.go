package fips

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

func TestModulesTable(t *testing.T) {
	names := map[string]bool{}
	for _, m := range Modules() {
		if m.Name == "" || m.Title == "" || m.Kind == "" {
			t.Errorf("incomplete module %+v", m)
		}
		if names[m.Name] {
			t.Errorf("duplicate module %s", m.Name)
		}
		names[m.Name] = true
		if m.Kind == Binding && m.Uses == "" {
			t.Errorf("binding %s uses nothing", m.Name)
		}
	}
	for _, want := range []string{OpenSSLProvider312, JitterEntropy, BouncyCastleFIPS21, GoFIPS140, PythonOpenSSL} {
		if !names[want] {
			t.Errorf("no module %s", want)
		}
	}
	for _, p := range providers {
		if !names[p.Module] {
			t.Errorf("provider %+v names an unknown module", p)
		}
	}
	for _, s := range substitutions {
		if !names[s.Module] || len(s.Install) == 0 {
			t.Errorf("substitution %+v", s)
		}
	}
	// Modules returns a copy.
	Modules()[0].Files[0] = "/tmp/x"
	if m, _ := LookupModule(OpenSSLProvider312); m.Files[0] != "/usr/lib/ossl-modules/fips.so" {
		t.Fatalf("Modules shares its table: %v", m.Files)
	}
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		family string
		in     []string
		want   []string
	}{
		{"wolfi", []string{"wolfi-base"}, []string{"libcrypto3", "openssl-config-fipshardened", "openssl-provider-fips-3.1.2", "wolfi-base"}},
		{"chainguard", []string{"openssl-config", "busybox"}, []string{"busybox", "libcrypto3", "openssl-config-fipshardened", "openssl-provider-fips-3.1.2"}},
		{"wolfi", []string{"openjdk-17", "openjdk-17"}, []string{"bouncycastle-fips", "libcrypto3", "openjdk-17", "openjdk-bcfips-policy-140-3-j17", "openssl-config-fipshardened", "openssl-provider-fips-3.1.2"}},
	} {
		got, err := Select(tc.family, tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Select(%s, %v) = %v, %v; want %v", tc.family, tc.in, got, err, tc.want)
		}
	}
	if _, err := Select("alpine", nil); !errors.Is(err, ErrNoFIPS) {
		t.Errorf("alpine: %v", err)
	}
	if got := Packages("wolfi"); !slices.Contains(got, "openssl-config-fipshardened") {
		t.Errorf("Packages(wolfi) = %v", got)
	}
	if len(Providers("alpine")) != 0 || len(Providers("wolfi")) == 0 {
		t.Error("Providers by family")
	}
}

func TestProviderOf(t *testing.T) {
	for _, tc := range []struct {
		name, version, want string
	}{
		{"openssl-provider-fips-3.1.2", "3.1.2-r3", OpenSSLProvider312},
		{"openssl-provider-fips", "3.0.9-r5", OpenSSLProvider309},
		{"openssl-provider-fips", "3.1.2-r0", OpenSSLProvider312},
		{"openssl-provider-fips", "3.5.0-r0", ""},
		{"libcrypto3", "3.4.0-r2", JitterEntropy},
		{"libcrypto3", "3.6.0-r4", JitterEntropy},
		{"libcrypto3", "3.4.0-r1", ""},
		{"libcrypto3", "3.3.9-r9", ""},
		{"bouncycastle-fips", "2.1.0-r1", BouncyCastleFIPS21},
		{"bouncycastle-fips", "2.0.0-r3", BouncyCastleFIPS20},
		{"glibc", "2.42-r4", ""},
	} {
		m, ok := providerOf(tc.name, tc.version)
		if ok != (tc.want != "") || m.Name != tc.want {
			t.Errorf("providerOf(%s, %s) = %s, %v; want %q", tc.name, tc.version, m.Name, ok, tc.want)
		}
	}
}

// The versions the module table compares order as apk-tools orders them.
func TestModuleVersionOrder(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"3.4.0-r2", "3.4.0-r2", 0},
		{"3.4.0-r10", "3.4.0-r2", 1},
		{"3.4.1-r0", "3.4.0-r9", 1},
		{"3.10.0", "3.9.9", 1},
		{"1.0_rc1", "1.0", -1},
		{"1.0_p1", "1.0", 1},
		{"6.5_p20251025-r1", "6.5_p20250101-r9", 1},
		{"1.2", "1.2.0", -1},
		{"010", "10", 0},
	} {
		if got := apkversion.Compare(tc.a, tc.b); got != tc.want || versionAtLeast(tc.a, tc.b) != (tc.want >= 0) {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// The real installed database of a wolfi-base image parses, and its
// libcrypto3 is recognised as a jitter entropy provider or not by version.
func TestParseInstalledReal(t *testing.T) {
	p := filepath.Join("..", "testdata", "apk", "installed-db", "wolfi-base")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := parseInstalled(p, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 15 {
		t.Fatalf("%d packages, want 15 (grep -c ^P: %s)", len(pkgs), p)
	}
	i := slices.IndexFunc(pkgs, func(p installed) bool { return p.Name == "libcrypto3" })
	if i < 0 || pkgs[i].Version == "" {
		t.Fatalf("no libcrypto3 in %+v", pkgs)
	}
	_, jitter := providerOf("libcrypto3", pkgs[i].Version)
	if want := versionAtLeast(pkgs[i].Version, "3.4.0-r2"); jitter != want {
		t.Errorf("libcrypto3 %s: jitter %v", pkgs[i].Version, jitter)
	}
}

func TestParseInstalledErrors(t *testing.T) {
	for _, in := range []string{"P:a\nP:b\n", "garbage\n", "V:1\n\n", "P:a\nV:1\nP:b\nV:2\n", "P:a\nV:1 2\n"} {
		_, err := parseInstalled("db", []byte(in))
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrParse) || pe.Line == 0 {
			t.Errorf("%q: %v", in, err)
		}
	}
}
