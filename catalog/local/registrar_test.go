package local_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/vm"
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

// A registration killed mid-copy leaves its temporary copy in
// blobs/sha256; the next registration (or Reclaim) removes it, but never
// the copy a live registration is making.
func TestRegistrarReclaimsDeadCopies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "disk.raw")
	data := bytes.Repeat([]byte("hardvm local blob "), 1<<20) // 18 MiB of data: many chunks
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	a := artifact.Artifact{Format: vm.FormatRaw, Path: src, Digest: digest.FromBytes(data)}
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", ".tmp-*"))
		return m
	}
	// start runs a registration in another process, stopped mid-copy.
	start := func() *exec.Cmd {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), registrarEnv+"="+strings.Join([]string{dir, src, a.Digest.String()}, "|"))
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		if line, err := bufio.NewReader(out).ReadString('\n'); line != "copying\n" {
			t.Fatalf("the registration did not start copying: %q, %v", line, err)
		}
		return c
	}
	dead, live := start(), start()
	if n := len(temps()); n != 2 {
		t.Fatalf("%d temporary copies, want 2", n)
	}
	dead.Process.Signal(syscall.SIGKILL)
	dead.Wait()

	r, err := local.NewRegistrar(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The next registration copies (the blob is not there yet): it
	// reclaims the dead copy first, and leaves the live one.
	loc, err := r.Register(ctx, a, catalogtest.EntryFor(vm.QEMU, a, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := fileDigest(t, filepath.Join(dir, loc.ID)); got != a.Digest {
		t.Fatalf("registered image has digest %s", got)
	}
	left := temps()
	if len(left) != 1 {
		t.Fatalf("after the next registration: %v, want the live copy only", left)
	}
	if removed, err := r.Reclaim(ctx); err != nil || len(removed) != 0 {
		t.Fatalf("Reclaim with a live copy: %v, %v; want nothing removed", removed, err)
	}
	live.Process.Signal(syscall.SIGKILL)
	live.Wait()
	removed, err := r.Reclaim(ctx)
	if err != nil || !slices.Equal(removed, left) || len(temps()) != 0 {
		t.Fatalf("Reclaim after the kill: %v, %v; want %v removed (left: %v)", removed, err, left, temps())
	}
}
