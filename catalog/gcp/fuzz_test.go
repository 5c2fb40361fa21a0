package gcp

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// FuzzCheck feeds arbitrary files to the GCE artifact check: it must never
// panic, and what it accepts is a gzip'd tar whose first member is
// disk.raw.
func FuzzCheck(f *testing.F) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "disk.raw", Mode: 0o644, Size: 1 << 30, Format: tar.FormatGNU})
	zw.Flush()
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:20])
	f.Add([]byte("\x1f\x8b not really"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "disk.tar.gz")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := catalog.OpenArtifact(artifact.Artifact{Format: vm.FormatGCE, Path: p, VirtualSize: 1 << 30, Digest: digest.FromBytes(b)}, "gcp", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if check(src) != nil {
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("accepted a file that is not gzip: %v", err)
		}
		h, err := tar.NewReader(io.Reader(zr)).Next()
		if err != nil || h.Name != "disk.raw" {
			t.Fatalf("accepted a tar.gz whose first member is %v (%v)", h, err)
		}
	})
}
