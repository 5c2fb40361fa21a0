package local_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
)

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func TestRegistrarConformance(t *testing.T) {
	dir := t.TempDir()
	r, err := local.NewRegistrar(dir)
	if err != nil {
		t.Fatal(err)
	}
	blob := func(d string) string { return filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")) }
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
			p := filepath.Join(dir, loc.ID)
			if got := fileDigest(t, p); got != string(a.Digest) {
				t.Errorf("%s: digest %s, want %s", p, got, a.Digest)
			}
			if loc.URI != "file://"+p {
				t.Errorf("URI %s, want file://%s", loc.URI, p)
			}
			fi, err := os.Stat(blob(string(a.Digest)))
			if err != nil {
				t.Fatal(err)
			}
			// The 4 MiB fixture is mostly a hole: the copy keeps it.
			if st := fi.Sys().(*syscall.Stat_t); st.Blocks*512 >= fi.Size() {
				t.Errorf("blob allocates %d bytes of %d: holes not kept", st.Blocks*512, fi.Size())
			}
		},
		Gone: func(t *testing.T, loc catalog.Location) {
			if _, err := os.Stat(filepath.Join(dir, loc.ID)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s still there after Deregister: %v", loc.ID, err)
			}
			if _, err := os.Stat(blob(string(loc.Digest))); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("blob %s still there after its last image was deregistered: %v", loc.Digest, err)
			}
		},
	})
}

// Two images sharing one artifact share its blob; the blob goes with the
// last of them. A location outside the directory is refused.
func TestRegistrarSharedBlob(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	r, err := local.NewRegistrar(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := catalogtest.RawArtifact(t, r)
	l1, err := r.Register(ctx, a, catalogtest.EntryFor("qemu", a, 1))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := r.Register(ctx, a, catalogtest.EntryFor("qemu", a, 2))
	if err != nil {
		t.Fatal(err)
	}
	blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	if len(blobs) != 1 || l1.ID == l2.ID {
		t.Fatalf("%d blobs for two images of one artifact (ids %s, %s)", len(blobs), l1.ID, l2.ID)
	}
	if err := r.Deregister(ctx, l1); err != nil {
		t.Fatal(err)
	}
	if fileDigest(t, filepath.Join(dir, l2.ID)) != string(a.Digest) {
		t.Fatal("second image damaged by deregistering the first")
	}
	if err := r.Deregister(ctx, l2); err != nil {
		t.Fatal(err)
	}
	if blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*")); len(blobs) != 0 {
		t.Fatalf("blobs left: %v", blobs)
	}
	bad := l1
	bad.ID = "../../etc/passwd"
	if err := r.Deregister(ctx, bad); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("Deregister of %s: %v, want ErrInvalid", bad.ID, err)
	}
}
