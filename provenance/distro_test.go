package provenance

import (
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

func TestLockDistribution(t *testing.T) {
	lock := func(fam vm.RepositoryFamily, pkgs ...artifact.Package) *artifact.Lock {
		return &artifact.Lock{Family: fam, Packages: pkgs}
	}
	for _, tc := range []struct {
		name      string
		lock      *artifact.Lock
		want      Distribution
		qualifier string
	}{
		{"alpine", lock(vm.Alpine, artifact.Package{Name: "alpine-release", Version: "3.22.2-r0"}), Distribution{"alpine", "3.22.2"}, "alpine-3.22.2"},
		{"wolfi", lock(vm.Wolfi, artifact.Package{Name: "wolfi-baselayout", Version: "20230201-r24"}), Distribution{"wolfi", "20230201"}, "wolfi-20230201"},
		{"chainguard", lock(vm.Chainguard, artifact.Package{Name: "chainguard-baselayout", Version: "20230214-r9"}), Distribution{"chainguard", "20230214"}, "chainguard-20230214"},
		{"no release package", lock(vm.Wolfi, artifact.Package{Name: "busybox", Version: "1.37.0-r3"}), Distribution{"wolfi", ""}, "wolfi"},
		{"another family's release package", lock(vm.Wolfi, artifact.Package{Name: "alpine-release", Version: "3.22.2-r0"}), Distribution{"wolfi", ""}, "wolfi"},
		// A version the qualifier would split or the file would quote
		// is left out rather than written wrong.
		{"hostile version", lock(vm.Alpine, artifact.Package{Name: "alpine-release", Version: "3.22-rc1\nID=x-r0"}), Distribution{"alpine", ""}, "alpine"},
		{"upper case", lock(vm.Alpine, artifact.Package{Name: "alpine-release", Version: "3.22A-r0"}), Distribution{"alpine", ""}, "alpine"},
		{"unknown family", lock("debian", artifact.Package{Name: "base-files", Version: "12.4"}), Distribution{}, ""},
		{"spec's family", &artifact.Lock{Spec: vm.Spec{Repositories: []vm.Repository{{URL: "x", Family: vm.Alpine}}}}, Distribution{"alpine", ""}, "alpine"},
		{"nil", nil, Distribution{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := LockDistribution(tc.lock)
			if d != tc.want || d.Qualifier() != tc.qualifier {
				t.Errorf("got %+v (%q), want %+v (%q)", d, d.Qualifier(), tc.want, tc.qualifier)
			}
		})
	}
	osr := string(Distribution{"alpine", "3.22.2"}.OSRelease())
	for _, want := range []string{"ID=alpine\n", "NAME=\"Alpine Linux\"\n", "VERSION_ID=3.22.2\n", "PRETTY_NAME=\"Alpine Linux 3.22.2\"\n"} {
		if !strings.Contains(osr, want) {
			t.Errorf("os-release %q lacks %q", osr, want)
		}
	}
	if osr := string(Distribution{ID: "chainguard"}.OSRelease()); strings.Contains(osr, "VERSION_ID") || !strings.Contains(osr, "NAME=\"Chainguard OS\"") {
		t.Errorf("os-release without a version: %q", osr)
	}
}

// Purl keeps its form (the SLSA statement's resolved dependencies); the
// SBOM's purls add the distro qualifier after arch, and ParsePurl reads
// both to the same reference.
func TestDistroPurl(t *testing.T) {
	p := artifact.Package{Name: "libstdc++", Version: "15.2.0-r1", Arch: "x86_64"}
	d := Distribution{"wolfi", "20230201"}
	plain, with := Purl(vm.Wolfi, p), distroPurl(vm.Wolfi, p, d)
	if with != "pkg:apk/wolfi/libstdc%2B%2B@15.2.0-r1?arch=x86_64&distro=wolfi-20230201" {
		t.Errorf("distro purl %q", with)
	}
	if noArch := distroPurl(vm.Wolfi, artifact.Package{Name: "a", Version: "1-r0"}, d); noArch != "pkg:apk/wolfi/a@1-r0?distro=wolfi-20230201" {
		t.Errorf("distro purl without arch %q", noArch)
	}
	a, err1 := ParsePurl(plain)
	b, err2 := ParsePurl(with)
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("ParsePurl: %+v, %v; %+v, %v", a, err1, b, err2)
	}
}
