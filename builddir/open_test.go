package builddir

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

// Open reads the build from its signed statements: the ref, the disks with
// their virtual sizes and root hashes, the kernel, the FIPS report, and
// the lock the provenance attests.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir, tm, c := build(t, true)
	b, err := Open(ctx, dir, mustPolicy(t, provenance.RequireFIPS()), tm)
	if err != nil {
		t.Fatal(err)
	}
	want := c.Lock.Spec.Ref()
	want.Digest = c.Artifacts[0].Digest
	if b.Ref != want || b.Ref.Version.Build != 3 {
		t.Errorf("ref %s, want %s", b.Ref, want)
	}
	if len(b.Artifacts) != 2 || b.Kernel != "6.12.8-0-virt" || b.FIPS == nil || !b.FIPS.Passed() || len(b.Results) != 2 {
		t.Fatalf("build %+v", b)
	}
	for i, a := range b.Artifacts {
		w := c.Artifacts[i]
		if a.Format != w.Format || a.Path != w.Path || a.Size != w.Size || a.VirtualSize != w.VirtualSize || a.Digest != w.Digest || a.RootHash != w.RootHash || a.Ref != want {
			t.Errorf("artifact %d = %+v, want %+v", i, a, w)
		}
	}
	if d1, _ := provenance.LockDigest(b.Lock); d1 != mustDigest(t, c) {
		t.Error("the lock read is not the lock written")
	}
	e, err := b.Entry()
	if err != nil {
		t.Fatal(err)
	}
	if e.Ref != want || e.Kernel != "6.12.8-r0" || len(e.Packages) != 3 || e.InstalledSize != 3*4096 {
		t.Errorf("entry %+v", e)
	}
	// The entry carries everything a verifier needs, FIPS included.
	for _, k := range catalog.AttachmentKinds() {
		if _, ok := e.Attachment(k); !ok {
			t.Errorf("the entry has no %s attachment", k)
		}
	}
	if a, ok := e.Artifact(vm.FormatQCOW2); !ok || a.VirtualSize != 512<<20 {
		t.Errorf("qcow2 entry %+v", a)
	}

	// The release publishes through its verifier, which verifies again.
	rel, err := b.Release()
	if err != nil {
		t.Fatal(err)
	}
	store := catalogtest.NewMemStore()
	got, err := catalog.Publish(ctx, store, rel, catalog.WithVerifier(b.Verifier()))
	if err != nil || got.Ref != want {
		t.Fatalf("publish: %v %v", got.Ref, err)
	}
	// A disk swapped after Open: the verifier vouches for the signed
	// digests, not for the file (it does not read the disk a third
	// time); the registrar, which hashes what it reads, refuses it, and
	// nothing is published.
	flipByte(t, filepath.Join(dir, "disk.qcow2"))
	reg, err := local.NewRegistrar(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other := catalogtest.NewMemStore()
	if _, err := catalog.Publish(ctx, other, rel, catalog.WithVerifier(b.Verifier()), catalog.WithRegistrars(reg)); !errors.Is(err, catalog.ErrDigest) {
		t.Errorf("a disk changed after Open was published: %v", err)
	}
	if _, err := other.Get(ctx, want); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("the store holds the refused release: %v", err)
	}
}

func mustDigest(t *testing.T, c Contents) digest.Digest {
	t.Helper()
	d, err := provenance.LockDigest(c.Lock)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The attack of issue 17: only lock.json edited (a later version, another
// build number, a package upgrade the image does not hold). Verify fails,
// and Open says which field disagrees.
func TestOpenRefusesEditedLock(t *testing.T) {
	ctx := context.Background()
	dir, tm, _ := build(t, false)
	for _, tc := range []struct {
		name     string
		old, new string
		field    string
	}{
		{"epoch", `"source_date_epoch": 1795000000`, `"source_date_epoch": 1893456000`, "spec.source_date_epoch"},
		{"build number", `"build": 3`, `"build": 77`, "spec.build"},
		{"package version", `"version": "10.2_p1-r1"`, `"version": "99.9"`, "packages[openssh-server].version"},
		{"installed size", `"installed_size": 4096`, `"installed_size": 1`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := copyDir(t, dir)
			p := filepath.Join(d, LockFile)
			b, _ := os.ReadFile(p)
			if !bytes.Contains(b, []byte(tc.old)) {
				t.Fatalf("lock.json lacks %s", tc.old)
			}
			os.WriteFile(p, bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1), 0o644)
			got, err := Open(ctx, d, nil, tm)
			var le *provenance.LockError
			if !errors.As(err, &le) || le.Field != tc.field {
				t.Fatalf("err = %v, want a LockError on %q", err, tc.field)
			}
			if len(got.Results) != 2 || got.Lock != nil {
				t.Errorf("a refused build: %+v", got)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("the error does not name %s: %v", tc.field, err)
			}
		})
	}
}

// Open refuses what Verify accepts but is not one coherent build.
func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	// A FIPS spec without a FIPS report: refused whatever the policy.
	s, _ := provenance.NewSigner()
	tm, _ := provenance.TrustKeys(s.PublicKey())
	dir := t.TempDir()
	lock := testLock(vm.Wolfi, true)
	if err := Write(ctx, dir, Contents{Lock: lock, Artifacts: writeDisks(t, dir, lock, vm.FormatRaw)}, s); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir, nil, tm); !errors.Is(err, provenance.ErrFIPS) {
		t.Errorf("FIPS spec without a report: %v", err)
	}
	// A wrong key: the results say why.
	dir2, _, _ := build(t, false)
	other, _ := provenance.NewSigner()
	otm, _ := provenance.TrustKeys(other.PublicKey())
	b, err := Open(ctx, dir2, nil, otm)
	if !errors.Is(err, provenance.ErrSignature) || b == nil || len(b.Results) != 2 || b.Results[0].Passed() {
		t.Errorf("wrong key: %v, %+v", err, b)
	}
}

// ReadUnverifiedUnsafe reads the same build without checking signatures;
// its verifier refuses to vouch for it.
func TestReadUnverifiedUnsafe(t *testing.T) {
	dir, tm, _ := build(t, true)
	b, err := ReadUnverifiedUnsafe(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(context.Background(), dir, nil, tm)
	if err != nil {
		t.Fatal(err)
	}
	if b.Ref != v.Ref || len(b.Artifacts) != 2 || b.Kernel != v.Kernel || b.FIPS == nil || b.Results != nil {
		t.Errorf("unverified %+v, verified %+v", b, v)
	}
	rel, err := b.Release()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verifier().Verify(context.Background(), &rel); !errors.Is(err, provenance.ErrVerification) {
		t.Errorf("the verifier of an unverified build: %v", err)
	}
	if _, err := ReadUnverifiedUnsafe(t.TempDir()); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty dir: %v", err)
	}
}

// A build without FIPS carries no FIPS attachments.
func TestOpenAttachmentsWithoutFIPS(t *testing.T) {
	dir, tm, _ := build(t, false)
	b, err := Open(context.Background(), dir, nil, tm)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []catalog.AttachmentKind
	for _, a := range b.Attachments {
		kinds = append(kinds, a.Kind)
		if a.Path == "" || a.Size == 0 || a.Digest.Validate() != nil || a.MediaType != a.Kind.DefaultMediaType() {
			t.Errorf("attachment %+v", a)
		}
	}
	if want := []catalog.AttachmentKind{catalog.SBOM, catalog.Provenance, catalog.Bundle, catalog.SBOMBundle}; !slices.Equal(kinds, want) {
		t.Errorf("attachments %v, want %v", kinds, want)
	}
}
