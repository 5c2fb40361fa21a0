package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) {
	// The limit's logic does not depend on its value: 1 MiB keeps the
	// oversized inputs of the tests cheap under the race detector.
	maxDocumentSize = 1 << 20
	os.Exit(m.Run())
}

const testEpoch = 1795000000 // 2026-11-18T...Z

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// testLock builds a lock by hand, as image.Resolve would, with n extra
// generated packages after the named ones.
func testLock(family vm.RepositoryFamily, n int) *artifact.Lock {
	repo := "https://packages.example.test/" + string(family) + "/os"
	spec := vm.Spec{
		Variant:  "base",
		Platform: vm.AWS,
		Arch:     vm.X86_64,
		Repositories: []vm.Repository{{
			URL: repo, Keys: []string{"keys/" + string(family) + "-signing.rsa.pub"}, Family: family,
		}},
		SourceDateEpoch: testEpoch,
	}
	l := &artifact.Lock{
		Spec:   spec,
		Arch:   vm.X86_64,
		Family: family,
		World:  []string{"busybox", "linux", "openssh-server"},
		Repositories: []artifact.Repository{{
			URL: repo, Family: family, IndexDigest: digest.Digest("sha256:" + hexOf("APKINDEX "+string(family))),
			Keys: []string{string(family) + "-signing.rsa.pub"},
		}},
	}
	add := func(name, ver, lic, maint string) {
		l.Packages = append(l.Packages, artifact.Package{
			Name: name, Version: ver, Arch: "x86_64",
			Checksum: "Q1" + hexOf(name)[:27] + "=",
			SHA256:   digest.Digest("sha256:" + hexOf(name+"-"+ver+".apk")),
			Size:     int64(1000 + len(name)*37), InstalledSize: 4096,
			Repository: repo, Origin: name, Commit: hexOf(name)[:40],
			License: lic, Maintainer: maint, Description: "the " + name + " package",
			URL: "https://example.test/" + name,
		})
	}
	add("busybox", "1.37.0-r3", "GPL-2.0-only", "Jane Doe <jane@example.test>")
	add("ca-certificates-bundle", "20250911-r0", "MPL-2.0 AND MIT", "")
	add("libstdc++", "15.2.0-r1", "GPL-3.0-or-later WITH GCC-exception-3.1", "Build Team <build@example.test>")
	add("linux", "6.12.8-r0", "GPL-2.0-only", "Kernel Team <kernel@example.test>")
	add("openssh-server", "10.0_p1-r2", "custom", "Jane Doe <jane@example.test>")
	for i := 0; i < n; i++ {
		add(fmt.Sprintf("pkg%04d", i), fmt.Sprintf("1.%d.0-r%d", i, i%3), "MIT", "Gen <gen@example.test>")
	}
	return l
}

// withRelease adds to lock the package that ships its family's
// os-release (alpine-release, wolfi-baselayout, chainguard-baselayout) at
// version, keeping the packages sorted by name.
func withRelease(lock *artifact.Lock, version string) *artifact.Lock {
	name := releasePackages[lock.Family]
	p := artifact.Package{
		Name: name, Version: version, Arch: "x86_64", Checksum: "Q1" + hexOf(name)[:27] + "=",
		SHA256: digest.Digest("sha256:" + hexOf(name+"-"+version+".apk")), Size: 2000, InstalledSize: 8192,
		Repository: lock.Repositories[0].URL, Origin: name, License: "MIT", Description: "the " + name + " package",
	}
	i, _ := slices.BinarySearchFunc(lock.Packages, name, func(p artifact.Package, n string) int { return strings.Compare(p.Name, n) })
	lock.Packages = slices.Insert(lock.Packages, i, p)
	return lock
}

// testArtifacts writes small artifact files into dir and returns them.
func testArtifacts(t testing.TB, dir string, lock *artifact.Lock, formats ...vm.DiskFormat) []artifact.Artifact {
	t.Helper()
	var out []artifact.Artifact
	for i, f := range formats {
		name := "disk." + string(f)
		p := filepath.Join(dir, name)
		data := []byte(fmt.Sprintf("hardvm test disk %d in format %s of %d packages\n", i, f, len(lock.Packages)))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := FileDigest(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, artifact.Artifact{
			Ref: lock.Spec.Ref(), Format: f, Path: p, Size: int64(len(data)), VirtualSize: 2 << 30,
			Digest: d, RootHash: hexOf("root hash"),
		})
	}
	return out
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if validate, ok := goldenValidators[name]; !ok {
		t.Fatalf("golden file %s has no validator in goldenValidators", name)
	} else if err := validate(want); err != nil {
		t.Errorf("testdata/%s is not valid: %v", name, err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (run go test -update after checking the change):\n%s", name, diffLine(got, want))
	}
}

func diffLine(a, b []byte) string {
	line := 1
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d, line %d", i, line)
		}
		if a[i] == '\n' {
			line++
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}
