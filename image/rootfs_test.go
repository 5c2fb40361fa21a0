package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/internal/testtool"
)

func newTestRootfs(t *testing.T, opts ...RootfsOption) *Rootfs {
	t.Helper()
	r, err := NewRootfs(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mergedUsr builds a small merged-/usr tree.
func mergedUsr(t *testing.T) *Rootfs {
	r := newTestRootfs(t)
	must(t, r.MkdirAll("usr/bin", 0o755, FileAttr{}))
	must(t, r.MkdirAll("usr/lib", 0o755, FileAttr{}))
	must(t, r.Symlink("usr/bin", "bin", FileAttr{}))
	must(t, r.Symlink("/usr/lib", "lib", FileAttr{}))
	must(t, r.Mkdir("etc", 0o755, FileAttr{}))
	must(t, r.WriteFile("etc/os-release", strings.NewReader("ID=test\n"), 0o644, FileAttr{Package: "base"}))
	// Written through the bin -> usr/bin symlink.
	must(t, r.WriteFile("bin/su", strings.NewReader("su"), 0o4755, FileAttr{UID: 0, GID: 0, Xattrs: map[string]string{"security.capability": "cap"}}))
	must(t, r.Link("usr/bin/su", "usr/bin/su2"))
	must(t, r.Mkdir("tmp", fs.ModeSticky|0o777, FileAttr{}))
	must(t, r.WriteFile("lib/libc.so", strings.NewReader("elf"), 0o755, FileAttr{UID: 5, GID: 6}))
	return r
}

func TestRootfsResolvesInsideTheTree(t *testing.T) {
	r := mergedUsr(t)
	b, err := fs.ReadFile(r, "usr/bin/su")
	if err != nil || string(b) != "su" {
		t.Fatalf("usr/bin/su = %q, %v", b, err)
	}
	fi, err := r.Stat("bin/su")
	must(t, err)
	if fi.Mode()&fs.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/su mode = %v, want setuid 0755", fi.Mode())
	}
	a := fi.Sys().(*FileAttr)
	if a.Nlink != 2 || a.Ino == 0 || a.Xattrs["security.capability"] != "cap" {
		t.Errorf("attr = %+v", a)
	}
	fi2, _ := r.Stat("usr/bin/su2")
	if fi2.Sys().(*FileAttr).Ino != a.Ino {
		t.Error("hardlinks do not share an inode")
	}
	li, err := r.Lstat("lib")
	must(t, err)
	if li.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("lib is %v, want a symlink", li.Mode())
	}
	if tgt, _ := r.ReadLink("lib"); tgt != "/usr/lib" {
		t.Errorf("ReadLink(lib) = %q", tgt)
	}
	if st, _ := r.Stat("tmp"); st.Mode()&fs.ModeSticky == 0 {
		t.Errorf("tmp mode %v lacks sticky", st.Mode())
	}
	if st, _ := r.Stat("lib/libc.so"); st.Sys().(*FileAttr).UID != 5 {
		t.Error("owner lost through the absolute symlink")
	}
	// The standard library's conformance test of fs.FS implementations.
	if err := fstest.TestFS(r, "etc/os-release", "usr/bin/su", "usr/lib/libc.so", "tmp"); err != nil {
		t.Fatal(err)
	}
}

func TestRootfsRejects(t *testing.T) {
	tests := []struct {
		name string
		do   func(r *Rootfs) error
		want error
	}{
		{"absolute dotdot", func(r *Rootfs) error { return r.WriteFile("/../etc/x", strings.NewReader(""), 0o644, FileAttr{}) }, ErrUnsafePath},
		{"dotdot", func(r *Rootfs) error { return r.WriteFile("usr/../../x", strings.NewReader(""), 0o644, FileAttr{}) }, ErrUnsafePath},
		{"control char", func(r *Rootfs) error { return r.WriteFile("etc/a\nb", strings.NewReader(""), 0o644, FileAttr{}) }, ErrUnsafePath},
		{"long name", func(r *Rootfs) error {
			return r.WriteFile("etc/"+strings.Repeat("a", 256), strings.NewReader(""), 0o644, FileAttr{})
		}, ErrUnsafePath},
		{"escape through relative symlink", func(r *Rootfs) error {
			must(t, r.Symlink("../../../../..", "usr/up", FileAttr{}))
			return r.WriteFile("usr/up/etc/x", strings.NewReader(""), 0o644, FileAttr{})
		}, ErrEscape},
		{"file over directory", func(r *Rootfs) error { return r.WriteFile("usr", strings.NewReader(""), 0o644, FileAttr{}) }, ErrConflict},
		{"hardlink to directory", func(r *Rootfs) error { return r.Link("usr/bin", "x") }, ErrHardlink},
		{"too large", func(r *Rootfs) error {
			return r.WriteFile("big", strings.NewReader(strings.Repeat("x", 2000)), 0o644, FileAttr{})
		}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mergedUsr(t)
			r.opt.maxFileSize = 1000
			var before bytes.Buffer
			must(t, r.WriteTar(context.Background(), &before))
			err := tt.do(r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("err %T is not a *PathError", err)
			}
			if _, err := r.Lstat("etc/x"); err == nil {
				t.Fatal("etc/x was written")
			}
		})
	}
}

func TestWriteTarReproducibleAndReadByTar(t *testing.T) {
	testtool.Require(t, "tar")
	var a, b bytes.Buffer
	must(t, mergedUsr(t).WriteTar(context.Background(), &a))
	must(t, mergedUsr(t).WriteTar(context.Background(), &b))
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two identical trees give different tars")
	}
	p := filepath.Join(t.TempDir(), "root.tar")
	must(t, os.WriteFile(p, a.Bytes(), 0o644))
	out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-tvf", p).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tvf: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"-rwsr-xr-x* 0/0", "usr/bin/su2 link to usr/bin/su", "lib -> /usr/lib", "drwxrwxrwt", "5/6"} {
		if !strings.Contains(s, want) {
			t.Errorf("tar -tv lacks %q:\n%s", want, s)
		}
	}
}

func TestRootfsSizeCountsInodes(t *testing.T) {
	r := mergedUsr(t) // su (2 bytes, two names), libc.so (3), os-release (8)
	if got := r.Size(); got != 13 {
		t.Fatalf("Size = %d, want 13", got)
	}
	must(t, r.WriteFile("etc/a", strings.NewReader("12345"), 0o644, FileAttr{}))
	must(t, r.Link("etc/os-release", "etc/a")) // replaces a: 5 bytes gone
	must(t, r.Remove("usr/bin/su"))            // su2 still holds the content
	if got := r.Size(); got != 13 {
		t.Fatalf("Size = %d, want 13", got)
	}
	must(t, r.Remove("usr/bin/su2"))
	if got := r.Size(); got != 11 {
		t.Fatalf("Size = %d, want 11", got)
	}
}

// TestStagingCountsAgainstTotal: staged content counts against the tree's
// total limit while it is staged, not only once installed: a third 40 KiB
// file is refused with 100 KiB allowed, before installing anything, and
// bytes of refused or deduplicated content stop counting once removed. On the main of
// issue 17 staging was bounded per file only (watched it fail).
func TestStagingCountsAgainstTotal(t *testing.T) {
	r := newTestRootfs(t, WithMaxTotalSize(100<<10))
	content := func(b byte) io.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 40<<10)) }
	for _, b := range []byte{'a', 'a', 'b'} { // the second 'a' is deduplicated
		if _, _, err := r.stage(content(b)); err != nil {
			t.Fatalf("staging %c: %v", b, err)
		}
	}
	if _, _, err := r.stage(content('c')); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("third distinct 40 KiB file: err = %v, want ErrTooLarge", err)
	}
	if got := r.staged.Load(); got != 80<<10 {
		t.Errorf("staged = %d, want %d", got, 80<<10)
	}
	if _, _, err := r.stage(bytes.NewReader(make([]byte, 20<<10))); err != nil {
		t.Errorf("20 KiB more within the limit: %v", err)
	}
}
