package erofs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	goerofs "github.com/erofs/go-erofs"

	"github.com/hardvm/hardvm/image/erofs"
	"github.com/hardvm/hardvm/internal/testtool"
)

const testEpoch = 1700000000

// attrOf reads the *erofs.Attr a test tree keeps in MapFile.Sys.
func attrOf(_ string, fi fs.FileInfo) (erofs.Attr, error) {
	if a, ok := fi.Sys().(*erofs.Attr); ok {
		return *a, nil
	}
	return erofs.Attr{}, nil
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// testTree is a tree with every kind of entry the writer handles.
func testTree() fstest.MapFS {
	shared := &erofs.Attr{UID: 0, GID: 0, Ino: 42}
	sparseData := append(append(randBytes(7, 5000), make([]byte, 3*4096)...), randBytes(8, 100)...)
	m := fstest.MapFS{
		".":                     {Mode: fs.ModeDir | 0o755},
		"bin":                   {Mode: fs.ModeDir | 0o755},
		"bin/su":                {Mode: 0o755 | fs.ModeSetuid, Data: randBytes(1, 20000), Sys: &erofs.Attr{Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00"}}},
		"bin/busybox":           {Mode: 0o755, Data: randBytes(2, 8192), Sys: shared},
		"bin/sh":                {Mode: 0o755, Data: randBytes(2, 8192), Sys: shared},
		"usr/bin/ls":            {Mode: 0o755, Data: randBytes(2, 8192), Sys: shared},
		"etc":                   {Mode: fs.ModeDir | 0o755},
		"etc/empty":             {Mode: 0o644},
		"etc/one":               {Mode: 0o644, Data: []byte("1")},
		"etc/block":             {Mode: 0o600, Data: randBytes(3, 4096)},
		"etc/block1":            {Mode: 0o600, Data: randBytes(4, 4097)},
		"etc/almost":            {Mode: 0o640, Data: randBytes(5, 4095), Sys: &erofs.Attr{UID: 70000, GID: 70001}},
		"etc/sparse":            {Mode: 0o644, Data: sparseData},
		"etc/xattrs":            {Mode: 0o644, Data: []byte("x\n"), Sys: &erofs.Attr{UID: 1000, GID: 1000, Xattrs: map[string]string{"user.a": "1", "trusted.overlay.opaque": "y", "security.selinux": "system_u:object_r:etc_t:s0\x00"}}},
		"lib":                   {Mode: fs.ModeSymlink | 0o777, Data: []byte("usr/lib")},
		"usr/lib/long":          {Mode: fs.ModeSymlink | 0o777, Data: []byte(strings.Repeat("x/", 2000) + "end")},
		"tmp":                   {Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		"var/mail":              {Mode: fs.ModeDir | fs.ModeSetgid | 0o775, Sys: &erofs.Attr{GID: 12}},
		"dev/null":              {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Sys: &erofs.Attr{Rdev: 1<<8 | 3}},
		"dev/sda":               {Mode: fs.ModeDevice | 0o660, Sys: &erofs.Attr{Rdev: 8 << 8, GID: 6}},
		"run/fifo":              {Mode: fs.ModeNamedPipe | 0o600},
		"data/big":              {Mode: 0o644, Data: randBytes(6, 300000)},
		"data/-first":           {Mode: 0o644, Data: []byte("sorts before dot")},
		"with space/ü-utf8.txt": {Mode: 0o644, Data: []byte("ü")},
	}
	for i := range 400 { // a directory over several blocks
		m[fmt.Sprintf("many/file-with-a-longish-name-%04d", i)] = &fstest.MapFile{Mode: 0o644, Data: fmt.Appendf(nil, "%d\n", i)}
	}
	return m
}

func writeImage(t *testing.T, src fs.FS, opts ...erofs.Option) (string, erofs.Result) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.erofs")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts = append([]erofs.Option{erofs.WithEpoch(testEpoch), erofs.WithAttr(attrOf)}, opts...)
	res, err := erofs.Write(context.Background(), f, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != res.Size {
		t.Fatalf("file size %d, result size %d", fi.Size(), res.Size)
	}
	return p, res
}

func TestWriteFsckAndReadBack(t *testing.T) {
	src := testTree()
	img, res := writeImage(t, src)
	testtool.Run(t, "fsck.erofs", img)
	out := testtool.Run(t, "dump.erofs", "-s", img)
	if !regexp.MustCompile(`inode count:\s+`+strconv.FormatUint(res.Inodes, 10)+`\n`).MatchString(out) ||
		!strings.Contains(out, "sb_csum") {
		t.Errorf("dump.erofs -s does not show %d inodes and sb_csum:\n%s", res.Inodes, out)
	}

	// Independent reader: go-erofs.
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := goerofs.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	inos := map[int64][]string{}
	err = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		want, _ := d.Info()
		wa, _ := attrOf(p, want)
		gi, err := got.(interface {
			Lstat(string) (fs.FileInfo, error)
		}).Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		st := gi.Sys().(*goerofs.Stat)
		// go-erofs's reader keeps the raw Unix mode in the low bits
		// (setuid/setgid/sticky only there): compare type and Unix bits.
		if gi.Mode().Type() != want.Mode().Type() || uint32(gi.Mode())&0o7777 != unixPerm(want.Mode()) {
			t.Errorf("%s: mode %v (%o), want %v", p, gi.Mode(), uint32(gi.Mode())&0o7777, want.Mode())
		}
		if st.UID != wa.UID || st.GID != wa.GID {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, st.UID, st.GID, wa.UID, wa.GID)
		}
		if st.Mtime != testEpoch {
			t.Errorf("%s: mtime %d, want %d", p, st.Mtime, testEpoch)
		}
		if want.Mode()&fs.ModeDevice != 0 && st.Rdev != wa.Rdev {
			t.Errorf("%s: rdev %#x, want %#x", p, st.Rdev, wa.Rdev)
		}
		if len(wa.Xattrs) > 0 || len(st.Xattrs) > 0 {
			if fmt.Sprint(st.Xattrs) != fmt.Sprint(wa.Xattrs) {
				t.Errorf("%s: xattrs %q, want %q", p, st.Xattrs, wa.Xattrs)
			}
		}
		switch {
		case want.Mode().IsRegular():
			b, err := fs.ReadFile(got, p)
			if err != nil || !bytes.Equal(b, src[p].Data) {
				t.Errorf("%s: content differs (%d bytes, want %d): %v", p, len(b), len(src[p].Data), err)
			}
			inos[st.Ino] = append(inos[st.Ino], p)
		case want.Mode()&fs.ModeSymlink != 0:
			l, err := got.(fs.ReadLinkFS).ReadLink(p)
			if err != nil || l != string(src[p].Data) {
				t.Errorf("%s: link %q, want %q (%v)", p, l, src[p].Data, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Hardlinks share one inode with three links; no other file shares.
	for ino, names := range inos {
		st, _ := fs.Stat(got, names[0])
		nlink := st.Sys().(*goerofs.Stat).Nlink
		if len(names) != nlink {
			t.Errorf("inode %d: names %v, nlink %d", ino, names, nlink)
		}
	}
	if n := len(inos[mustIno(t, got, "bin/sh")]); n != 3 {
		t.Errorf("bin/sh shares its inode with %d names, want 3", n)
	}
}

func unixPerm(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

func mustIno(t *testing.T, fsys fs.FS, p string) int64 {
	t.Helper()
	st, err := fs.Stat(fsys, p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*goerofs.Stat).Ino
}

// TestDumpErofs checks metadata with erofs-utils' own reader.
func TestDumpErofs(t *testing.T) {
	img, _ := writeImage(t, testTree())
	re := regexp.MustCompile(`NID: (\d+)\s+Links: (\d+)[\s\S]*Uid: (\d+)\s+Gid: (\d+)\s+Access: (\d+)/`)
	dump := func(p string) (nid, links, uid, gid string, mode string) {
		out := testtool.Run(t, "dump.erofs", "--path=/"+p, img)
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("dump.erofs %s: unexpected output:\n%s", p, out)
		}
		return m[1], m[2], m[3], m[4], m[5]
	}
	for _, tc := range []struct{ path, links, uid, gid, mode string }{
		// dump.erofs 1.5 prints i_mode & 0777; the setuid, setgid and sticky
		// bits are checked in the raw inode below.
		{"bin/su", "1", "0", "0", "0755"},
		{"bin/sh", "3", "0", "0", "0755"},
		{"etc/almost", "1", "70000", "70001", "0640"},
		{"tmp", "2", "0", "0", "0777"},
		{"var/mail", "2", "0", "12", "0775"},
		{"lib", "1", "0", "0", "0777"},
		{"etc", "2", "0", "0", "0755"},
		{"", "12", "0", "0", "0755"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, links, uid, gid, mode := dump(tc.path)
			if links != tc.links || uid != tc.uid || gid != tc.gid || mode != tc.mode {
				t.Errorf("links %s uid %s gid %s mode %s, want %s %s %s %s", links, uid, gid, mode, tc.links, tc.uid, tc.gid, tc.mode)
			}
		})
	}
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]uint16{"bin/su": 0o104755, "tmp": 0o41777, "var/mail": 0o42775} {
		nid, _, _, _, _ := dump(p)
		n, _ := strconv.Atoi(nid)
		// The inode of nid n is at meta_blkaddr (1) * 4096 + n*32; i_mode
		// is its third 16-bit field.
		off := 4096 + n*32 + 4
		if got := binary.LittleEndian.Uint16(raw[off:]); got != want {
			t.Errorf("%s: raw i_mode at nid %d is %o, want %o", p, n, got, want)
		}
	}
	a, _, _, _, _ := dump("bin/sh")
	b, _, _, _, _ := dump("usr/bin/ls")
	c, _, _, _, _ := dump("bin/su")
	if a != b || a == c {
		t.Errorf("hardlink nids: sh %s ls %s su %s", a, b, c)
	}
}

// TestExtract extracts the image with fsck.erofs and compares what the
// kernel-independent extractor wrote with the source.
func TestExtract(t *testing.T) {
	src := testTree()
	img, _ := writeImage(t, src)
	dir := filepath.Join(t.TempDir(), "x")
	testtool.Run(t, "fsck.erofs", "--extract="+dir, "--preserve", img)
	root := os.Geteuid() == 0
	for p, mf := range src {
		if p == "." || mf.Mode&(fs.ModeDevice|fs.ModeNamedPipe) != 0 {
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		// fsck.erofs 1.5 chowns after chmod, which clears setuid/setgid
		// on files; TestDumpErofs checks those bits in the raw inode.
		wantMode := mf.Mode
		if mf.Mode.IsRegular() {
			wantMode &^= fs.ModeSetuid | fs.ModeSetgid
		}
		if fi.Mode() != wantMode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mf.Mode)
		}
		if root {
			var a erofs.Attr
			if x, ok := mf.Sys.(*erofs.Attr); ok {
				a = *x
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != a.UID || st.Gid != a.GID {
				t.Errorf("%s: owner %d:%d, want %d:%d", p, st.Uid, st.Gid, a.UID, a.GID)
			}
		}
		switch {
		case mf.Mode.IsRegular():
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil || !bytes.Equal(b, mf.Data) {
				t.Errorf("%s: extracted content differs: %v", p, err)
			}
		case mf.Mode&fs.ModeSymlink != 0:
			l, err := os.Readlink(filepath.Join(dir, p))
			if err != nil || l != string(mf.Data) {
				t.Errorf("%s: link %q want %q", p, l, mf.Data)
			}
		}
	}
}

func TestReproducible(t *testing.T) {
	a, ra := writeImage(t, testTree())
	b, rb := writeImage(t, testTree(), erofs.WithWorkers(1))
	if ra != rb {
		t.Errorf("results differ: %+v %+v", ra, rb)
	}
	if sum(t, a) != sum(t, b) {
		t.Error("two writes of the same tree differ")
	}
	c, rc := writeImage(t, testTree(), erofs.WithEpoch(testEpoch+1))
	if sum(t, a) == sum(t, c) || rc.UUID == ra.UUID {
		t.Error("a different epoch gives the same image or UUID")
	}
	u := [16]byte{1, 2, 3}
	_, rd := writeImage(t, testTree(), erofs.WithUUID(u))
	if rd.UUID != u {
		t.Errorf("UUID %x, want %x", rd.UUID, u)
	}
}

func sum(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestHoles checks that zero blocks of files stay holes.
func TestHoles(t *testing.T) {
	src := fstest.MapFS{"zeros": {Mode: 0o644, Data: make([]byte, 4<<20)}, "x": {Mode: 0o644, Data: []byte("x")}}
	img, res := writeImage(t, src)
	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc > 64<<10 || res.Size < 4<<20 {
		t.Errorf("image of %d bytes allocates %d bytes", res.Size, alloc)
	}
	testtool.Run(t, "fsck.erofs", "--extract="+filepath.Join(t.TempDir(), "x"), img)
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		src  fs.FS
		want error
	}{
		{"xattr", ctx, fstest.MapFS{"f": {Sys: &erofs.Attr{Xattrs: map[string]string{"foo.bar": "x"}}}}, erofs.ErrXattrName},
		{"xattr-big", ctx, fstest.MapFS{"f": {Sys: &erofs.Attr{Xattrs: map[string]string{"user.x": strings.Repeat("v", 70000)}}}}, erofs.ErrXattrTooLarge},
		{"irregular", ctx, fstest.MapFS{"f": {Mode: fs.ModeIrregular}}, erofs.ErrFileType},
		{"grew", ctx, lyingFS{fstest.MapFS{"f": {Data: []byte("hello")}}, 3}, erofs.ErrSizeChanged},
		{"shrank", ctx, lyingFS{fstest.MapFS{"f": {Data: []byte("hello")}}, 9000}, erofs.ErrSizeChanged},
		{"cancelled", cancelled, testTree(), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := erofs.Write(tc.ctx, io.NewOffsetWriter(discard{}, 0), tc.src, erofs.WithAttr(attrOf))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var pe *erofs.PathError
			if tc.want != context.Canceled && (!errors.As(err, &pe) || pe.Path != "f") {
				t.Errorf("err %v does not name the path f", err)
			}
		})
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// lyingFS announces size for every file while its content differs.
type lyingFS struct {
	fstest.MapFS
	size int64
}

func (l lyingFS) Open(name string) (fs.File, error) {
	f, err := l.MapFS.Open(name)
	if err != nil || name == "." {
		return f, err
	}
	return lyingFile{f, l.size}, nil
}

type lyingFile struct {
	fs.File
	size int64
}

func (f lyingFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	return lyingInfo{fi, f.size}, err
}

type lyingInfo struct {
	fs.FileInfo
	size int64
}

func (i lyingInfo) Size() int64 { return i.size }

func (l lyingFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := l.MapFS.ReadDir(name)
	for i, e := range ents {
		fi, _ := e.Info()
		ents[i] = fs.FileInfoToDirEntry(lyingInfo{fi, l.size})
	}
	return ents, err
}

// TestAgainstMkfs runs the same tree through mkfs.erofs (never used by
// the library) and checks that both images extract to the same files.
func TestAgainstMkfs(t *testing.T) {
	testtool.Require(t, "mkfs.erofs", "fsck.erofs")
	src := testTree()
	dir := filepath.Join(t.TempDir(), "src")
	for p, mf := range src {
		full := filepath.Join(dir, p)
		switch {
		case mf.Mode.IsDir():
			os.MkdirAll(full, 0o755)
		case mf.Mode.IsRegular():
			os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, mf.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ours, _ := writeImage(t, os.DirFS(dir))
	theirs := filepath.Join(t.TempDir(), "mkfs.erofs")
	if out, err := exec.Command("mkfs.erofs", "-T", strconv.Itoa(testEpoch), theirs, dir).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.erofs: %v\n%s", err, out)
	}
	xa, xb := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	testtool.Run(t, "fsck.erofs", "--extract="+xa, ours)
	testtool.Run(t, "fsck.erofs", "--extract="+xb, theirs)
	if out, err := exec.Command("diff", "-r", "--no-dereference", xa, xb).CombinedOutput(); err != nil {
		t.Errorf("extracted trees differ: %v\n%s", err, out)
	}
}

// TestLength checks the image length whatever its last block holds.
func TestLength(t *testing.T) {
	big := randBytes(9, 3*4096+4090) // plain layout: its tail does not fit inline
	for name, src := range map[string]fstest.MapFS{
		"plain-tail": {"f": {Mode: 0o644, Data: big}},
		"zero-end":   {"f": {Mode: 0o644, Data: append(randBytes(10, 4096), make([]byte, 8192)...)}},
		"meta-only":  {"f": {Mode: 0o644, Data: []byte("x")}},
		"empty":      {},
	} {
		t.Run(name, func(t *testing.T) {
			img, _ := writeImage(t, src) // checks the file length
			testtool.Run(t, "fsck.erofs", "--extract="+filepath.Join(t.TempDir(), "x"), img)
		})
	}
}
