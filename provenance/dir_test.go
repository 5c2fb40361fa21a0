package provenance

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/vm"
)

func writeDir(t *testing.T) (string, *TrustedMaterial) {
	t.Helper()
	dir := t.TempDir()
	lock := testLock(vm.Chainguard, 3)
	arts := testArtifacts(t, dir, lock, vm.FormatRaw, vm.FormatQCOW2)
	s, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(context.Background(), dir, lock, arts, s, passingReport()); err != nil {
		t.Fatal(err)
	}
	tm, err := ReadTrustedKeyFile(filepath.Join(dir, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return dir, tm
}

func TestWriteVerifyDir(t *testing.T) {
	ctx := context.Background()
	dir, tm := writeDir(t)
	for _, f := range []string{SBOMFile, ProvenanceFile, SBOMBundle, FIPSBundle, FIPSReportFile, PublicKeyFile, "disk.raw.sigstore.json", "disk.qcow2.sigstore.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("WriteDir did not write %s: %v", f, err)
		}
	}
	signedRoot := hexOf("root hash")
	results, err := VerifyDir(ctx, dir, mustPolicy(t, RequireFIPS()), tm,
		WithRootHashReader(func(context.Context, string) (string, error) { return signedRoot, nil }))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	var table bytes.Buffer
	WriteTable(&table, results...)
	for _, want := range []string{"verity-root-hash", ProvenanceFile, SBOMFile, "fips-report", "disk.qcow2"} {
		if !bytes.Contains(table.Bytes(), []byte(want)) {
			t.Errorf("table lacks %s:\n%s", want, table.String())
		}
	}

	tests := []struct {
		name   string
		mutate func(dir string)
		opts   []DirOption
		want   error
	}{
		{"tampered artifact", func(d string) { flipByte(t, filepath.Join(d, "disk.qcow2")) }, nil, ErrSubjectMismatch},
		{"unattested disk", func(d string) { os.WriteFile(filepath.Join(d, "extra.vmdk"), []byte("x"), 0o644) }, nil, ErrUnattested},
		{"missing artifact", func(d string) {
			os.Remove(filepath.Join(d, "disk.raw"))
			os.Remove(filepath.Join(d, "disk.raw.sigstore.json"))
		}, nil, ErrSubjectMismatch},
		{"edited provenance file", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, ProvenanceFile))
			os.WriteFile(filepath.Join(d, ProvenanceFile), bytes.Replace(b, []byte("busybox"), []byte("busyb0x"), 1), 0o644)
		}, nil, ErrSignature},
		{"edited SBOM file", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, SBOMFile))
			os.WriteFile(filepath.Join(d, SBOMFile), bytes.Replace(b, []byte("GPL-2.0-only"), []byte("MIT"), 1), 0o644)
		}, nil, ErrSignature},
		{"no SBOM bundle", func(d string) { os.Remove(filepath.Join(d, SBOMBundle)) }, nil, ErrMissingAttestation},
		{"truncated bundle", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "disk.raw.sigstore.json"))
			os.WriteFile(filepath.Join(d, "disk.raw.sigstore.json"), b[:len(b)/2], 0o644)
		}, nil, ErrMalformed},
		{"root hash differs", func(string) {}, []DirOption{WithRootHashReader(func(context.Context, string) (string, error) { return hexOf("other"), nil })}, ErrRootHash},
		{"no FIPS bundle", func(d string) { os.Remove(filepath.Join(d, FIPSBundle)) }, nil, ErrFIPS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, tm := writeDir(t)
			tt.mutate(d)
			_, err := VerifyDir(ctx, d, mustPolicy(t, RequireFIPS()), tm, tt.opts...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := VerifyDir(ctx, t.TempDir(), nil, tm); !errors.Is(err, ErrVerification) {
		t.Errorf("empty dir: %v", err)
	}
}

func flipByte(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
