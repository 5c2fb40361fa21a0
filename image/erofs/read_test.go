package erofs_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/erofs"
	"github.com/hardvm/hardvm/internal/testtool"
)

func openImage(t testing.TB, img string) *erofs.FS {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := erofs.Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkAgainst compares every entry of src (a test tree) with what the
// reader reads from the image: type, permission bits, owners, xattrs,
// device numbers, content, link targets and hardlink counts.
func checkAgainst(t *testing.T, got *erofs.FS, src fstest.MapFS, skipXattrs bool) {
	t.Helper()
	links := map[uint64]uint32{}
	for _, mf := range src {
		if a, ok := mf.Sys.(*erofs.Attr); ok && a.Ino != 0 {
			links[a.Ino]++
		}
	}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		want, err := d.Info()
		if err != nil {
			return err
		}
		wa, _ := attrOf(p, want)
		gi, err := got.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		st := gi.Sys().(*erofs.Stat)
		if gi.Mode() != want.Mode() {
			t.Errorf("%s: mode %v, want %v", p, gi.Mode(), want.Mode())
		}
		if st.UID != wa.UID || st.GID != wa.GID {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, st.UID, st.GID, wa.UID, wa.GID)
		}
		if !skipXattrs && !maps.Equal(st.Xattrs, wa.Xattrs) && (len(st.Xattrs) != 0 || len(wa.Xattrs) != 0) {
			t.Errorf("%s: xattrs %q, want %q", p, st.Xattrs, wa.Xattrs)
		}
		if want.Mode()&fs.ModeDevice != 0 && st.Rdev != wa.Rdev {
			t.Errorf("%s: rdev %#x, want %#x", p, st.Rdev, wa.Rdev)
		}
		if wa.Ino != 0 && st.Nlink != links[wa.Ino] {
			t.Errorf("%s: %d links, want %d", p, st.Nlink, links[wa.Ino])
		}
		switch {
		case want.Mode().IsRegular():
			b, err := fs.ReadFile(got, p)
			if err != nil || !bytes.Equal(b, src[p].Data) {
				t.Errorf("%s: content differs (%d bytes, want %d): %v", p, len(b), len(src[p].Data), err)
			}
		case want.Mode()&fs.ModeSymlink != 0:
			l, err := got.ReadLink(p)
			if err != nil || l != string(src[p].Data) {
				t.Errorf("%s: link %.40q, want %.40q: %v", p, l, src[p].Data, err)
			}
		case want.IsDir():
			ents, err := got.ReadDir(p)
			wents, _ := fs.ReadDir(src, p)
			if err != nil || len(ents) != len(wents) {
				t.Errorf("%s: %d entries, want %d: %v", p, len(ents), len(wents), err)
			}
			for i := range min(len(ents), len(wents)) {
				if ents[i].Name() != wents[i].Name() {
					t.Errorf("%s: entry %d is %q, want %q", p, i, ents[i].Name(), wents[i].Name())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadOwnWriter reads back everything the writer writes.
func TestReadOwnWriter(t *testing.T) {
	src := testTree()
	img, res := writeImage(t, src, erofs.WithVolumeName("root"))
	got := openImage(t, img)
	if got.UUID() != res.UUID || got.Volume() != "root" || got.Inodes() != res.Inodes || got.Size() != res.Size {
		t.Errorf("superblock: uuid %x volume %q inodes %d size %d, want %x root %d %d", got.UUID(), got.Volume(), got.Inodes(), got.Size(), res.UUID, res.Inodes, res.Size)
	}
	checkAgainst(t, got, src, false)
	// fstest.TestFS of the subtrees without dangling symlinks.
	for dir, want := range map[string]string{"bin": "su", "etc": "sparse", "many": "file-with-a-longish-name-0399", "with space": "ü-utf8.txt"} {
		sub, err := fs.Sub(got, dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(sub, want); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

// TestReadFollowsSymlinks resolves links as a mounted image does:
// relative, absolute, through directories, and ".." clamped at the root.
func TestReadFollowsSymlinks(t *testing.T) {
	src := fstest.MapFS{
		"usr/lib/os-release": {Mode: 0o644, Data: []byte("ID=test\n")},
		"etc/os-release":     {Mode: fs.ModeSymlink | 0o777, Data: []byte("../usr/lib/os-release")},
		"etc/abs":            {Mode: fs.ModeSymlink | 0o777, Data: []byte("/usr/lib/os-release")},
		"etc/up":             {Mode: fs.ModeSymlink | 0o777, Data: []byte("../../../../usr/lib/os-release")},
		"lib":                {Mode: fs.ModeSymlink | 0o777, Data: []byte("usr/lib")},
		"loop":               {Mode: fs.ModeSymlink | 0o777, Data: []byte("loop")},
		"dangling":           {Mode: fs.ModeSymlink | 0o777, Data: []byte("nowhere")},
	}
	got := openImage(t, must(writeImage(t, src)))
	for _, p := range []string{"etc/os-release", "etc/abs", "etc/up", "lib/os-release"} {
		b, err := fs.ReadFile(got, p)
		if err != nil || string(b) != "ID=test\n" {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	if _, err := got.Open("loop"); err == nil {
		t.Error("a symlink loop opened")
	}
	if _, err := got.Open("dangling"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dangling: %v, want fs.ErrNotExist", err)
	}
	if fi, err := got.Lstat("lib"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(lib): %v, %v", fi, err)
	}
	if _, err := got.Open("/etc"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(/etc): %v, want fs.ErrInvalid", err)
	}
}

func must(img string, _ erofs.Result) string { return img }

// materialize writes src into a fresh directory with its modes, owners,
// xattrs, hardlinks, symlinks, devices and fifos.
func materialize(t *testing.T, src fstest.MapFS) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first := map[uint64]string{}
	var dirs []string
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		a, _ := attrOf(p, fi)
		full := filepath.Join(dir, p)
		m := fi.Mode()
		perm := uint32(m.Perm())
		if m&fs.ModeSetuid != 0 {
			perm |= syscall.S_ISUID
		}
		if m&fs.ModeSetgid != 0 {
			perm |= syscall.S_ISGID
		}
		if m&fs.ModeSticky != 0 {
			perm |= syscall.S_ISVTX
		}
		switch {
		case p == ".":
		case m.IsDir():
			if err := os.Mkdir(full, 0o700); err != nil {
				return err
			}
		case a.Ino != 0 && first[a.Ino] != "":
			return os.Link(first[a.Ino], full)
		case m.IsRegular():
			if err := os.WriteFile(full, src[p].Data, 0o600); err != nil {
				return err
			}
		case m&fs.ModeSymlink != 0:
			return os.Symlink(string(src[p].Data), full)
		case m&fs.ModeDevice != 0:
			kind := uint32(syscall.S_IFBLK)
			if m&fs.ModeCharDevice != 0 {
				kind = syscall.S_IFCHR
			}
			if err := syscall.Mknod(full, kind|perm, int(a.Rdev)); err != nil {
				return err
			}
		case m&fs.ModeNamedPipe != 0:
			if err := syscall.Mkfifo(full, perm); err != nil {
				return err
			}
		}
		if a.Ino != 0 {
			first[a.Ino] = full
		}
		// chown clears security.capability: owners first.
		if err := os.Lchown(full, int(a.UID), int(a.GID)); err != nil {
			return err
		}
		for k, v := range a.Xattrs {
			if err := syscall.Setxattr(full, k, []byte(v), 0); err != nil {
				return &fs.PathError{Op: "setxattr " + k, Path: p, Err: err}
			}
		}
		if m.IsDir() {
			dirs = append(dirs, full)
		}
		if err := syscall.Chmod(full, perm); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReadMkfsErofs reads images of the same tree that erofs-utils'
// mkfs.erofs wrote, with compact and with extended inodes, and compares
// the reader with the tree and with what fsck.erofs --extract makes of
// the same image, and the nids with dump.erofs.
func TestReadMkfsErofs(t *testing.T) {
	testtool.Require(t, "mkfs.erofs", "fsck.erofs", "dump.erofs")
	if os.Geteuid() != 0 {
		t.Fatal("the tree needs root to chown, mknod and set trusted.* xattrs")
	}
	src := testTree()
	// The kernel takes only well-formed file capabilities: a VFS v2
	// capability with CAP_NET_RAW permitted and effective.
	src["bin/su"].Sys = &erofs.Attr{Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}}
	dir := materialize(t, src)
	for name, extra := range map[string][]string{"compact": nil, "extended": {"-Eforce-inode-extended"}} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "mkfs.erofs")
			args := append(append([]string{"-T", strconv.Itoa(testEpoch)}, extra...), img, dir)
			if out, err := exec.Command("mkfs.erofs", args...).CombinedOutput(); err != nil {
				t.Fatalf("mkfs.erofs: %v\n%s", err, out)
			}
			got := openImage(t, img)
			checkAgainst(t, got, src, false)

			x := filepath.Join(t.TempDir(), "x")
			testtool.Run(t, "fsck.erofs", "--extract="+x, "--preserve", img)
			err := filepath.WalkDir(x, func(full string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				p, _ := filepath.Rel(x, full)
				p = filepath.ToSlash(p)
				want, _ := os.Lstat(full)
				gi, err := got.Lstat(p)
				if err != nil {
					t.Errorf("%s: extracted, but the reader: %v", p, err)
					return nil
				}
				if want.Mode().Type() != gi.Mode().Type() || want.Size() != gi.Size() && want.Mode().IsRegular() {
					t.Errorf("%s: %v %d bytes, extracted %v %d bytes", p, gi.Mode(), gi.Size(), want.Mode(), want.Size())
				}
				if want.Mode().IsRegular() {
					a, _ := os.ReadFile(full)
					b, err := fs.ReadFile(got, p)
					if err != nil || !bytes.Equal(a, b) {
						t.Errorf("%s: content differs from fsck.erofs --extract: %v", p, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			re := regexp.MustCompile(`NID: (\d+)`)
			for _, p := range []string{"bin/su", "etc/xattrs", "many/file-with-a-longish-name-0123", "usr/lib/long"} {
				m := re.FindStringSubmatch(testtool.Run(t, "dump.erofs", "--path=/"+p, img))
				gi, _ := got.Lstat(p)
				if m == nil || gi == nil || m[1] != strconv.FormatUint(gi.Sys().(*erofs.Stat).Nid, 10) {
					t.Errorf("%s: dump.erofs says NID %v, the reader %v", p, m, gi)
				}
			}
		})
	}
}

// TestReadRefuses checks typed errors for what the reader does not read
// and for damaged images.
func TestReadRefuses(t *testing.T) {
	testtool.Require(t, "mkfs.erofs")
	src := fstest.MapFS{"f": {Mode: 0o644, Data: bytes.Repeat([]byte("compressible "), 4000)}, "d/g": {Mode: 0o644, Data: randBytes(3, 9000)}}
	dir := materialize(t, src)
	mkfs := func(args ...string) string {
		img := filepath.Join(t.TempDir(), "img")
		if out, err := exec.Command("mkfs.erofs", append(append([]string{"-T", "1"}, args...), img, dir)...).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.erofs %v: %v\n%s", args, err, out)
		}
		return img
	}
	readAll := func(img string) error {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		r, err := erofs.Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return err
		}
		return fs.WalkDir(r, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				_, err = fs.ReadFile(r, p)
			}
			return err
		})
	}
	for name, img := range map[string]string{"lz4": mkfs("-zlz4"), "chunked": mkfs("--chunksize=4096")} {
		if err := readAll(img); !errors.Is(err, erofs.ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: %v, want erofs.ErrUnsupported", name, err)
		}
	}
	good, err := os.ReadFile(mkfs())
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		off  int
		val  byte
		want error
	}{
		"magic":     {1024, 0, erofs.ErrCorrupt},
		"checksum":  {1024 + 4, 0xff, erofs.ErrCorrupt},
		"blocksize": {1024 + 12, 9, erofs.ErrUnsupported},
	} {
		b := bytes.Clone(good)
		b[tc.off] ^= tc.val | 1
		if _, err := erofs.Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := erofs.Open(bytes.NewReader(good[:4096]), 4096); len(good) > 4096 && !errors.Is(err, erofs.ErrCorrupt) {
		t.Errorf("truncated: %v, want erofs.ErrCorrupt", err)
	}
	r, err := erofs.Open(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFileMax("f", 100); !errors.Is(err, erofs.ErrTooLarge) {
		t.Errorf("ReadFileMax: %v, want erofs.ErrTooLarge", err)
	}
}

// FuzzOpen reads arbitrary images: every directory listed and every file
// read must end in data or an error, never a panic, a hang or an
// allocation beyond the image.
func FuzzOpen(f *testing.F) {
	for _, src := range []fstest.MapFS{
		{"a/b": {Mode: 0o644, Data: []byte("hello")}, "l": {Mode: fs.ModeSymlink | 0o777, Data: []byte("a/b")}},
		{"x": {Mode: 0o600, Data: randBytes(1, 5000), Sys: &erofs.Attr{Xattrs: map[string]string{"user.k": "v"}}}},
	} {
		var buf writerAtBuffer
		if _, err := erofs.Write(f.Context(), &buf, src, erofs.WithEpoch(1)); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := erofs.Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		seen := 0
		_ = fs.WalkDir(r, ".", func(p string, d fs.DirEntry, err error) error {
			if seen++; err != nil || seen > 1000 || len(p) > 4096 {
				return fs.SkipAll
			}
			switch {
			case d.Type().IsRegular():
				_, _ = r.ReadFileMax(p, 1<<20)
			case d.Type()&fs.ModeSymlink != 0:
				_, _ = r.ReadLink(p)
				_, _ = r.Stat(p)
			}
			return nil
		})
		_, _ = fs.ReadFile(r, path.Join("a", "b"))
		f, err := r.Open(".")
		if err == nil {
			_, _ = f.(fs.ReadDirFile).ReadDir(1)
			_, _ = io.ReadAll(io.LimitReader(f, 10))
		}
	})
}

// writerAtBuffer is an in-memory io.WriterAt.
type writerAtBuffer struct{ b []byte }

func (w *writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}
