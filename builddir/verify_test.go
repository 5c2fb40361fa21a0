package builddir

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

func TestWriteVerify(t *testing.T) {
	ctx := context.Background()
	dir, tm, _ := build(t, true)
	for _, f := range []string{LockFile, SBOMFile, ProvenanceFile, SBOMBundle, FIPSBundle, FIPSReportFile, PublicKeyFile, "disk.raw.sigstore.json", "disk.qcow2.sigstore.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("Write did not write %s: %v", f, err)
		}
	}
	signedRoot := hexOf("root hash")
	results, err := Verify(ctx, dir, mustPolicy(t, provenance.RequireFIPS()), tm,
		WithRootHashReader(func(context.Context, string) (string, error) { return signedRoot, nil }))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	var table bytes.Buffer
	provenance.WriteTable(&table, results...)
	for _, want := range []string{"verity-root-hash", ProvenanceFile, SBOMFile, LockFile, "same-build", "fips-report", "disk.qcow2"} {
		if !bytes.Contains(table.Bytes(), []byte(want)) {
			t.Errorf("table lacks %s:\n%s", want, table.String())
		}
	}

	// Another build's disk, signed with another key: for the tests that
	// mix builds.
	other, _, _ := build(t, true)

	tests := []struct {
		name   string
		mutate func(dir string)
		opts   []Option
		want   error
	}{
		{"tampered artifact", func(d string) { flipByte(t, filepath.Join(d, "disk.qcow2")) }, nil, provenance.ErrSubjectMismatch},
		{"unattested disk", func(d string) { os.WriteFile(filepath.Join(d, "extra.vmdk"), []byte("x"), 0o644) }, nil, provenance.ErrUnattested},
		{"missing artifact", func(d string) {
			os.Remove(filepath.Join(d, "disk.raw"))
			os.Remove(filepath.Join(d, "disk.raw.sigstore.json"))
		}, nil, provenance.ErrSubjectMismatch},
		{"edited provenance file", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, ProvenanceFile))
			os.WriteFile(filepath.Join(d, ProvenanceFile), bytes.Replace(b, []byte("busybox"), []byte("busyb0x"), 1), 0o644)
		}, nil, provenance.ErrSignature},
		{"edited SBOM file", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, SBOMFile))
			os.WriteFile(filepath.Join(d, SBOMFile), bytes.Replace(b, []byte("GPL-2.0-only"), []byte("MIT"), 1), 0o644)
		}, nil, provenance.ErrSignature},
		{"edited lock", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, LockFile))
			os.WriteFile(filepath.Join(d, LockFile), bytes.Replace(b, []byte("10.2_p1-r1"), []byte("99.9"), 1), 0o644)
		}, nil, provenance.ErrLock},
		{"no lock", func(d string) { os.Remove(filepath.Join(d, LockFile)) }, nil, provenance.ErrLock},
		{"lock with an unknown field", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, LockFile))
			os.WriteFile(filepath.Join(d, LockFile), bytes.Replace(b, []byte(`"arch"`), []byte(`"trusted": true, "arch"`), 1), 0o644)
		}, nil, provenance.ErrMalformed},
		{"no SBOM bundle", func(d string) { os.Remove(filepath.Join(d, SBOMBundle)) }, nil, provenance.ErrMissingAttestation},
		{"truncated bundle", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "disk.raw.sigstore.json"))
			os.WriteFile(filepath.Join(d, "disk.raw.sigstore.json"), b[:len(b)/2], 0o644)
		}, nil, provenance.ErrMalformed},
		{"oversized bundle", func(d string) {
			// A sparse file past the bound: refused by its size, never
			// read (TestReadBundleRefusesBySize).
			os.Truncate(filepath.Join(d, "disk.raw.sigstore.json"), 4<<30)
		}, nil, provenance.ErrTooLarge},
		{"root hash differs", func(string) {}, []Option{WithRootHashReader(func(context.Context, string) (string, error) { return hexOf("other"), nil })}, provenance.ErrRootHash},
		{"root hash unreadable", func(string) {}, []Option{WithRootHashReader(func(context.Context, string) (string, error) { return "", errors.New("no GPT") })}, provenance.ErrRootHash},
		{"no FIPS bundle", func(d string) { os.Remove(filepath.Join(d, FIPSBundle)) }, nil, provenance.ErrFIPS},
		{"disk of another build", func(d string) {
			// The other build's qcow2 with its bundle: each verifies, but
			// not as one build (and not with this key).
			for _, n := range []string{"disk.qcow2", "disk.qcow2.sigstore.json"} {
				b, _ := os.ReadFile(filepath.Join(other, n))
				os.WriteFile(filepath.Join(d, n), b, 0o644)
			}
		}, nil, provenance.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t, dir)
			tt.mutate(d)
			_, err := Verify(ctx, d, mustPolicy(t, provenance.RequireFIPS()), tm, tt.opts...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Verify(ctx, t.TempDir(), nil, tm); !errors.Is(err, provenance.ErrVerification) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Verify(ctx, filepath.Join(t.TempDir(), "none"), nil, tm); !errors.Is(err, provenance.ErrInput) {
		t.Errorf("no dir: %v", err)
	}
	if _, err := Verify(ctx, dir, nil, tm, WithRootHashReader(nil)); !errors.Is(err, provenance.ErrOption) {
		t.Errorf("nil root hash reader: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Verify(cctx, dir, nil, tm); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// Two builds signed with the same key: each disk verifies, but a
// directory holding one disk of each is not one build.
func TestVerifyMixedBuilds(t *testing.T) {
	ctx := context.Background()
	s, err := provenance.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := provenance.TrustKeys(s.PublicKey())
	dirs := make([]string, 2)
	for i := range dirs {
		dirs[i] = t.TempDir()
		lock := testLock(vm.Wolfi, false)
		lock.Spec.Build = i
		c := Contents{Lock: lock, Artifacts: writeDisks(t, dirs[i], lock, vm.FormatRaw, vm.FormatQCOW2)}
		if err := Write(ctx, dirs[i], c, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"disk.qcow2", "disk.qcow2.sigstore.json"} {
		b, _ := os.ReadFile(filepath.Join(dirs[1], n))
		os.WriteFile(filepath.Join(dirs[0], n), b, 0o644)
	}
	results, err := Verify(ctx, dirs[0], nil, tm)
	if !errors.Is(err, provenance.ErrSubjectMismatch) {
		t.Fatalf("mixed builds: %v", err)
	}
	var table bytes.Buffer
	provenance.WriteTable(&table, results...)
	if !bytes.Contains(table.Bytes(), []byte("another build's")) {
		t.Errorf("the table does not say which disk is another build's:\n%s", table.String())
	}
}

// Write refuses contents that break the layout, and writes nothing.
func TestWriteRefuses(t *testing.T) {
	ctx := context.Background()
	s, _ := provenance.NewSigner()
	dir := t.TempDir()
	lock := testLock(vm.Wolfi, false)
	arts := writeDisks(t, dir, lock, vm.FormatRaw, vm.FormatQCOW2)
	elsewhere := writeDisks(t, t.TempDir(), lock, vm.FormatRaw)
	for _, tc := range []struct {
		name string
		c    Contents
		s    *provenance.Signer
		want error
	}{
		{"nil signer", Contents{Lock: lock, Artifacts: arts}, nil, provenance.ErrInput},
		{"nil lock", Contents{Artifacts: arts}, s, provenance.ErrInput},
		{"no disks", Contents{Lock: lock}, s, ErrInvalid},
		{"raw not first", Contents{Lock: lock, Artifacts: []artifact.Artifact{arts[1], arts[0]}}, s, ErrInvalid},
		{"disk elsewhere", Contents{Lock: lock, Artifacts: elsewhere}, s, ErrInvalid},
		{"bad kernel", Contents{Lock: lock, Artifacts: arts, Kernel: "6.1 evil"}, s, provenance.ErrOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Write(ctx, dir, tc.c, tc.s); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, LockFile)); err == nil {
				t.Error("lock.json written")
			}
		})
	}
	named := arts[1]
	named.Path = filepath.Join(dir, LockFile)
	if err := Write(ctx, dir, Contents{Lock: lock, Artifacts: append(arts[:1:1], named)}, s); !errors.Is(err, ErrInvalid) {
		t.Errorf("a disk named lock.json: %v", err)
	}
}

// Files lists the layout's files that are there, not the disks, not what
// else the directory holds.
func TestFiles(t *testing.T) {
	dir, _, _ := build(t, false)
	os.Mkdir(filepath.Join(dir, "cache"), 0o755)
	os.WriteFile(filepath.Join(dir, ".disk.raw.tmp-1"), nil, 0o644)
	got, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"disk.qcow2.sigstore.json", "disk.raw.sigstore.json", LockFile, PublicKeyFile, ProvenanceFile, SBOMFile, SBOMBundle}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Files = %v, want %v", got, want)
	}
	if _, err := Files(filepath.Join(dir, "none")); err == nil {
		t.Error("no directory: no error")
	}
}

// WithWrittenDisks: a disk the caller wrote and hashed is verified against
// the digest it gives, not read again (a change that keeps the size is not
// seen: that is the contract, only for files the caller has just written);
// a disk whose size changed, and every disk not named, is read.
func TestVerifyWrittenDisks(t *testing.T) {
	ctx := context.Background()
	dir, tm, c := build(t, false)
	p := mustPolicy(t)
	var raw, qcow artifact.Artifact
	for _, a := range c.Artifacts {
		switch a.Format {
		case vm.FormatRaw:
			raw = a
		case vm.FormatQCOW2:
			qcow = a
		}
	}
	flipByte(t, raw.Path)
	flipByte(t, qcow.Path)
	if _, err := Verify(ctx, dir, p, tm, WithWrittenDisks(raw)); !errors.Is(err, provenance.ErrVerification) {
		t.Fatalf("the unnamed qcow2, changed, passed: %v", err)
	} else if !strings.Contains(err.Error(), "("+qcow.Name()+")") || strings.Contains(err.Error(), "("+raw.Name()+")") {
		t.Errorf("want a failure of the qcow2 disk, named, and none of the raw disk (not read again): %v", err)
	}
	if _, err := Verify(ctx, dir, p, tm, WithWrittenDisks(raw, qcow)); err != nil {
		t.Errorf("disks verified by their written digests: %v", err)
	}
	if err := os.Truncate(raw.Path, raw.Size+512); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, dir, p, tm, WithWrittenDisks(raw, qcow)); !errors.Is(err, provenance.ErrSubjectMismatch) {
		t.Errorf("a written disk whose size changed was not read: %v", err)
	}
	if _, err := Verify(ctx, dir, p, tm, WithWrittenDisks(artifact.Artifact{Path: raw.Path})); !errors.Is(err, provenance.ErrOption) {
		t.Errorf("a written disk without a digest: %v", err)
	}
}

// A multi-GiB sparse bundle is refused by its size before any of it is
// read (issue 17 item 5): the old bounded read still cost
// provenance.MaxDocumentSize of memory per file.
func TestReadBundleRefusesBySize(t *testing.T) {
	dir := t.TempDir()
	name := BundleFile(DiskFile(vm.FormatRaw))
	if err := os.WriteFile(filepath.Join(dir, name), []byte(`{"mediaType":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, name), 4<<30); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readBundle(dir, name)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, provenance.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("refusing a 4 GiB bundle allocated %d bytes: it was read, not refused by its size", n)
	}
}
