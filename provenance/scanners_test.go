package provenance

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// Scanners read our SBOM as an operating system: syft (v1.57.2) finds the
// distribution and every installed package; trivy (v0.74.0) reports the OS
// family and release and every package as an OS package (issue 19: before,
// syft said `distro: {}` and trivy `OS family="none"`, so no vulnerability
// could be matched). The real tools, as `make deps` installs them; the
// locks are hand-made (helpers_test.go), the tools read only the SBOM.
func TestScannersSeeTheOS(t *testing.T) {
	syft := testtool.Require(t, "syft")
	trivy := testtool.Require(t, "trivy")
	for _, c := range []struct {
		fam     vm.RepositoryFamily
		release string // version of the package shipping os-release
		want    string // VERSION_ID
	}{
		{vm.Wolfi, "20230201-r24", "20230201"},
		{vm.Chainguard, "20230214-r9", "20230214"},
		{vm.Alpine, "3.22.2-r0", "3.22.2"},
	} {
		t.Run(string(c.fam), func(t *testing.T) {
			dir := t.TempDir()
			lock := withRelease(testLock(c.fam, 2), c.release)
			doc, err := SBOM(lock, testArtifacts(t, dir, lock, vm.FormatRaw, vm.FormatQCOW2))
			if err != nil {
				t.Fatal(err)
			}
			b, err := MarshalSBOM(doc)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "sbom.spdx.json")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}

			var s struct {
				Distro struct {
					ID        string `json:"id"`
					VersionID string `json:"versionID"`
				} `json:"distro"`
				Artifacts []struct {
					Name, Version, Type, Purl string
				} `json:"artifacts"`
			}
			decode(t, scan(t, dir, syft, "convert", path, "-o", "syft-json"), &s)
			if s.Distro.ID != string(c.fam) || s.Distro.VersionID != c.want {
				t.Errorf("syft: distro %+v, want %s %s", s.Distro, c.fam, c.want)
			}
			found := map[string]string{}
			for _, a := range s.Artifacts {
				if a.Type == "apk" {
					found[a.Name] = a.Version
				}
			}
			checkAll(t, "syft", lock, found)

			var r struct {
				Metadata struct {
					OS struct{ Family, Name string }
				}
				Results []struct {
					Class    string
					Type     string
					Packages []struct{ Name, Version string }
				}
			}
			decode(t, scan(t, dir, trivy, "sbom", "--scanners", "license", "--format", "json", "--quiet",
				"--cache-dir", filepath.Join(dir, "trivy-cache"), "--skip-version-check", "--offline-scan", path), &r)
			if r.Metadata.OS.Family != string(c.fam) || r.Metadata.OS.Name != c.want {
				t.Errorf("trivy: OS %+v, want family %s, name %s", r.Metadata.OS, c.fam, c.want)
			}
			found = map[string]string{}
			for _, res := range r.Results {
				if res.Class != "os-pkgs" || res.Type != string(c.fam) {
					continue
				}
				for _, p := range res.Packages {
					found[p.Name] = p.Version
				}
			}
			checkAll(t, "trivy", lock, found)
		})
	}
}

// scan runs a scanner with its home and caches in dir and returns its
// standard output; it fails the test if the scanner fails.
func scan(t *testing.T, dir, tool string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "SYFT_CHECK_FOR_APP_UPDATE=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(tool), args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("scanner output: %v\n%.2000s", err, b)
	}
}

// checkAll fails unless found holds every package of the lock at its
// version, and nothing else.
func checkAll(t *testing.T, tool string, lock *artifact.Lock, found map[string]string) {
	t.Helper()
	for _, p := range lock.Packages {
		if v, ok := found[p.Name]; !ok || v != p.Version {
			t.Errorf("%s: package %s: version %q, want %q", tool, p.Name, v, p.Version)
		}
	}
	if len(found) != len(lock.Packages) {
		t.Errorf("%s: %d OS packages, the lock has %d: %v", tool, len(found), len(lock.Packages), found)
	}
}
