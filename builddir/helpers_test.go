package builddir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

const testEpoch = 1795000000

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// testLock is a lock as image.Resolve and image.Build leave it, by hand.
func testLock(family vm.RepositoryFamily, fipsOn bool) *artifact.Lock {
	repo := "https://packages.example.test/" + string(family) + "/os"
	spec := vm.Spec{Variant: "base", Platform: vm.AWS, Arch: vm.X86_64, FIPS: fipsOn, SourceDateEpoch: testEpoch, Build: 3,
		Repositories: []vm.Repository{{URL: repo, Keys: []string{"keys/" + string(family) + "-signing.rsa.pub"}, Family: family}}}
	l := &artifact.Lock{Spec: spec, Arch: vm.X86_64, Family: family, World: []string{"busybox", "linux", "openssh-server"},
		Repositories: []artifact.Repository{{URL: repo, Family: family, IndexDigest: digest.FromString("APKINDEX " + string(family)),
			Keys: []string{string(family) + "-signing.rsa.pub"}}}}
	for _, p := range []struct{ name, ver string }{{"busybox", "1.37.0-r3"}, {"linux", "6.12.8-r0"}, {"openssh-server", "10.2_p1-r1"}} {
		l.Packages = append(l.Packages, artifact.Package{Name: p.name, Version: p.ver, Arch: "x86_64", Checksum: "Q1" + hexOf(p.name)[:27] + "=",
			SHA256: digest.FromString(p.name + "-" + p.ver + ".apk"), Size: 1000, InstalledSize: 4096, Repository: repo,
			Origin: p.name, License: "GPL-2.0-only"})
	}
	return l
}

func passingReport() *fips.Report {
	return &fips.Report{
		Modules: []fips.Found{{Module: "openssl-fips-provider", Version: "3.1.2", Package: "openssl-provider-fips"}},
		Results: []fips.Result{{Check: fips.CheckProviderModule, Status: fips.Pass, Path: "/usr/lib/ossl-modules/fips.so"}},
		Scope:   fips.DefaultScope(),
	}
}

// writeDisks writes small stand-in disk files of the formats into dir (raw
// first) for lock's build.
func writeDisks(t testing.TB, dir string, lock *artifact.Lock, formats ...vm.DiskFormat) []artifact.Artifact {
	t.Helper()
	ref := lock.Spec.Ref()
	var out []artifact.Artifact
	for i, f := range formats {
		p := filepath.Join(dir, DiskFile(f))
		data := fmt.Appendf(nil, "stand-in disk %d (%s) of build %d\n", i, f, lock.Spec.Build)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := provenance.FileDigest(p)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ref.Digest = d
		}
		out = append(out, artifact.Artifact{Ref: ref, Format: f, Path: p, Size: int64(len(data)), VirtualSize: 256 << 20 << i,
			Digest: d, RootHash: hexOf("root hash")})
	}
	return out
}

// build writes a signed build directory of raw and qcow2 stand-in disks
// (with a kernel; with a FIPS report when fipsOn) and returns it with the
// key that signed it and what was written.
func build(t testing.TB, fipsOn bool) (string, *provenance.TrustedMaterial, Contents) {
	t.Helper()
	dir := t.TempDir()
	lock := testLock(vm.Chainguard, fipsOn)
	c := Contents{Lock: lock, Artifacts: writeDisks(t, dir, lock, vm.FormatRaw, vm.FormatQCOW2), Kernel: "6.12.8-0-virt"}
	if fipsOn {
		c.FIPS = passingReport()
	}
	s, err := provenance.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(context.Background(), dir, c, s); err != nil {
		t.Fatal(err)
	}
	tm, err := provenance.TrustKeys(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return dir, tm, c
}

func mustPolicy(t testing.TB, opts ...provenance.PolicyOption) *provenance.Policy {
	t.Helper()
	p, err := provenance.NewPolicy(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func flipByte(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
