package local_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/opencontainers/go-digest"
)

func fileDigest(t *testing.T, p string) digest.Digest {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := digest.SHA256.FromReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRegistrarConformance(t *testing.T) {
	dir := t.TempDir()
	r, err := local.NewRegistrar(dir)
	if err != nil {
		t.Fatal(err)
	}
	blob := func(d digest.Digest) string { return filepath.Join(dir, "blobs", string(d.Algorithm()), d.Encoded()) }
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
			p := filepath.Join(dir, loc.ID)
			if got := fileDigest(t, p); got != a.Digest {
				t.Errorf("%s: digest %s, want %s", p, got, a.Digest)
			}
			if loc.URI != "file://"+p {
				t.Errorf("URI %s, want file://%s", loc.URI, p)
			}
			fi, err := os.Stat(blob(a.Digest))
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
			if _, err := os.Stat(blob(loc.Digest)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("blob %s still there after its last image was deregistered: %v", loc.Digest, err)
			}
		},
		Empty: func(t *testing.T) { emptyDir(t, dir) },
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
	if fileDigest(t, filepath.Join(dir, l2.ID)) != a.Digest {
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

// emptyDir fails t unless the registrar's directory holds no image and no
// blob, not even a temporary copy.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"images", "blobs/sha256"} {
		if ents, err := os.ReadDir(filepath.Join(dir, d)); err != nil || len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%s holds %v (%v)", d, names, err)
		}
	}
}
