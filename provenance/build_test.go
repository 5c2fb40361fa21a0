package provenance

import (
	"errors"
	"slices"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/spdx/tools-golang/spdx"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// The provenance binds the lock by its digest and names the kernel, and
// reads both back with the spec; the subjects carry the ref and the
// virtual size.
func TestBuildParameters(t *testing.T) {
	lock := testLock(vm.Wolfi, 2)
	lock.Spec.Build = 7
	lock.Spec.Size = 256 << 20
	arts := testArtifacts(t, t.TempDir(), lock, vm.FormatRaw, vm.FormatQCOW2)
	st, err := SLSA(lock, arts, WithKernel("6.12.8-0-virt"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ReadBuildParameters(st)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := LockDigest(lock)
	if p.Lock != want || p.Kernel != "6.12.8-0-virt" || p.Arch != vm.X86_64 || p.Family != vm.Wolfi || !slices.Equal(p.World, lock.World) {
		t.Errorf("parameters %+v", p)
	}
	if p.Spec.Ref() != lock.Spec.Ref() || p.Spec.Size != lock.Spec.Size || p.Spec.Repositories[0].Keys[0] != lock.Spec.Repositories[0].Keys[0] {
		t.Errorf("signed spec %+v, want %+v", p.Spec, lock.Spec)
	}
	subs := Subjects(st)
	if subs[1].Ref != lock.Spec.Ref().String() || subs[1].VirtualSize != 2<<30 {
		t.Errorf("subject %+v", subs[1])
	}
	// No kernel: the provenance says so.
	st, err = SLSA(lock, arts)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ReadBuildParameters(st); err != nil || p.Kernel != "" {
		t.Errorf("without WithKernel: %+v, %v", p, err)
	}
	for _, bad := range []string{"", " ", "6.1 x", "../boot"} {
		if _, err := SLSA(lock, arts, WithKernel(bad)); !errors.Is(err, ErrOption) {
			t.Errorf("WithKernel(%q): %v", bad, err)
		}
	}
	sst, _ := SBOMStatement(mustSBOM(t, lock, arts), arts)
	if _, err := ReadBuildParameters(sst); !errors.Is(err, ErrPredicateType) {
		t.Errorf("an SBOM statement read as provenance: %v", err)
	}
}

func mustSBOM(t *testing.T, lock *artifact.Lock, arts []artifact.Artifact) *spdx.Document {
	t.Helper()
	doc, err := SBOM(lock, arts)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// LockDigest is the digest of the lock's values, not of one encoding.
func TestLockDigest(t *testing.T) {
	a, err := LockDigest(testLock(vm.Wolfi, 3))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LockDigest(testLock(vm.Wolfi, 3))
	if a != b || a.Validate() != nil {
		t.Fatalf("%s %s", a, b)
	}
	l := testLock(vm.Wolfi, 3)
	l.Packages[0].InstalledSize++
	if c, _ := LockDigest(l); c == a {
		t.Error("an installed size change left the digest")
	}
	if _, err := LockDigest(nil); !errors.Is(err, ErrInput) {
		t.Errorf("nil lock: %v", err)
	}
}

// CheckLock accepts the attested lock and names the first field of an
// edited one.
func TestCheckLock(t *testing.T) {
	lock := testLock(vm.Wolfi, 2)
	st, err := SLSA(lock, testArtifacts(t, t.TempDir(), lock, vm.FormatRaw))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckLock(st, testLock(vm.Wolfi, 2)); err != nil {
		t.Fatalf("the attested lock: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(l *artifact.Lock)
		field string
	}{
		{"epoch", func(l *artifact.Lock) { l.Spec.SourceDateEpoch = 4102444800 }, "spec.source_date_epoch"},
		{"build number", func(l *artifact.Lock) { l.Spec.Build = 77 }, "spec.build"},
		{"platform", func(l *artifact.Lock) { l.Spec.Platform = vm.GCP }, "spec.platform"},
		{"package version", func(l *artifact.Lock) { l.Packages[4].Version = "99.9" }, "packages[openssh-server].version"},
		{"package digest", func(l *artifact.Lock) { l.Packages[0].SHA256 = digest.FromString("x") }, "packages[busybox].sha256"},
		{"package added", func(l *artifact.Lock) {
			l.Packages = append(l.Packages, artifact.Package{Name: "zz-backdoor", Version: "1-r0", Arch: "x86_64"})
		}, "packages[zz-backdoor]"},
		{"package removed", func(l *artifact.Lock) { l.Packages = l.Packages[1:] }, "packages[busybox]"},
		{"world", func(l *artifact.Lock) { l.World = append(l.World, "nc") }, "world"},
		{"arch", func(l *artifact.Lock) { l.Arch = vm.Aarch64 }, "arch"},
		{"index", func(l *artifact.Lock) { l.Repositories[0].IndexDigest = digest.FromString("index") }, "repositories[https://packages.example.test/wolfi/os].index_digest"},
		{"installed size (by digest only)", func(l *artifact.Lock) { l.Packages[1].InstalledSize = 1 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLock(vm.Wolfi, 2)
			tc.edit(l)
			err := CheckLock(st, l)
			var le *LockError
			if !errors.As(err, &le) || !errors.Is(err, ErrLock) || !errors.Is(err, ErrVerification) {
				t.Fatalf("err = %v, want a *LockError", err)
			}
			if le.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", le.Field, tc.field, err)
			}
		})
	}
}
