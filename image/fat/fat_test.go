package fat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/fat"
	"github.com/hardvm/hardvm/internal/testtool"
)

const testEpoch = 1700000000

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func espTree() fstest.MapFS {
	m := fstest.MapFS{
		"EFI/BOOT/BOOTX64.EFI":       {Data: randBytes(1, 300<<10)},
		"EFI/BOOT/BOOTAA64.EFI":      {Data: randBytes(2, 5000)},
		"EFI/Linux/hardvm-1.2.3.efi": {Data: randBytes(3, 70000)},
		"loader/loader.conf":         {Data: []byte("timeout 0\ndefault hardvm-*\n")},
		"loader/entries/a very long file name with spaces and ünïcödé characters.conf": {Data: []byte("title x\n")},
		"EMPTY.TXT":       {Data: nil},
		"emptydir":        {Mode: fs.ModeDir | 0o755},
		"zeros.bin":       {Data: make([]byte, 64<<10)},
		"README":          {Data: []byte("hi")},
		"CamelCase.Json":  {Data: []byte("{}")},
		".hidden-dotfile": {Data: []byte(".")},
	}
	for i := range 150 { // many aliases and a directory over several clusters
		m[fmt.Sprintf("many/file-%03d.conf", i)] = &fstest.MapFile{Data: fmt.Appendf(nil, "%d\n", i)}
	}
	return m
}

func writeVolume(t *testing.T, src fs.FS, size int64, opts ...fat.Option) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "esp.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts = append([]fat.Option{fat.WithEpoch(testEpoch)}, opts...)
	if _, err := fat.Write(context.Background(), f, size, src, opts...); err != nil {
		t.Fatal(err)
	}
	if fi, _ := f.Stat(); fi.Size() != size {
		t.Fatalf("volume file is %d bytes, want %d", fi.Size(), size)
	}
	return p
}

func fsck(t *testing.T, img string) {
	t.Helper()
	out := testtool.Run(t, "fsck.vfat", "-n", "-v", img)
	for _, bad := range []string{"differences", "wrong", "Free cluster", "Wrong", "corrupt", "invalid", "Invalid", "Leaving filesystem unchanged"} {
		if strings.Contains(out, bad) {
			t.Errorf("fsck.vfat -n reports %q:\n%s", bad, out)
		}
	}
}

func TestFsckAndMtools(t *testing.T) {
	src := espTree()
	for _, tc := range []struct {
		name string
		size int64
		opts []fat.Option
	}{
		{"64MiB", 64 << 20, nil},
		{"300MiB-4KiB-clusters", 300 << 20, []fat.Option{fat.WithLabel("ESP")}},
		{"min", 33 << 20, []fat.Option{fat.WithHiddenSectors(2048)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := writeVolume(t, src, tc.size, tc.opts...)
			fsck(t, img)
			testtool.Require(t, "mdir", "mcopy")
			// mdir lists every file with its long name.
			out := testtool.Run(t, "mdir", "-i", img, "-/", "-b", "::/")
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasSuffix(l, "/") {
					got = append(got, strings.TrimPrefix(l, "::/"))
				}
			}
			var want []string
			for p, f := range src {
				if !f.Mode.IsDir() {
					want = append(want, p)
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("mdir lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// mcopy reads every file back.
			dir := filepath.Join(t.TempDir(), "out")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			testtool.Run(t, "mcopy", "-s", "-n", "-m", "-i", img, "::/*", "::/.hidden-dotfile", dir)
			for _, p := range want {
				b, err := os.ReadFile(filepath.Join(dir, p))
				if err != nil || !bytes.Equal(b, src[p].Data) {
					t.Errorf("%s: mcopy gave %d bytes (%v), want %d", p, len(b), err, len(src[p].Data))
				}
			}
			if fi, err := os.Stat(filepath.Join(dir, "EFI/BOOT/BOOTX64.EFI")); err == nil && fi.ModTime().Unix() != testEpoch {
				t.Errorf("mtime %v, want the epoch %d", fi.ModTime().UTC(), testEpoch)
			}
			info := testtool.Run(t, "minfo", "-i", img, "::")
			if !strings.Contains(info, "FAT32") && !strings.Contains(info, "fat32") && !strings.Contains(info, "big FAT") {
				t.Errorf("minfo does not see FAT32:\n%s", info)
			}
		})
	}
}

func TestReproducible(t *testing.T) {
	a := writeVolume(t, espTree(), 64<<20)
	b := writeVolume(t, espTree(), 64<<20)
	c := writeVolume(t, espTree(), 64<<20, fat.WithEpoch(testEpoch+3600))
	if !same(t, a, b) {
		t.Error("two writes of the same tree differ")
	}
	if same(t, a, c) {
		t.Error("a different epoch gives the same volume")
	}
}

// same compares two files in 1 MiB chunks (whole-file reads and SHA-256
// are slow under -race).
func same(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea != nil || eb != nil {
			return (ea == io.EOF || ea == io.ErrUnexpectedEOF) && (eb == io.EOF || eb == io.ErrUnexpectedEOF)
		}
	}
}

func TestHoles(t *testing.T) {
	img := writeVolume(t, espTree(), 256<<20)
	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	// About 400 KiB of files and the used part of the FATs.
	if alloc := st.Blocks * 512; alloc > 2<<20 {
		t.Errorf("256 MiB volume allocates %d bytes", alloc)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		size int64
		src  fs.FS
		want error
	}{
		{"small", ctx, 16 << 20, fstest.MapFS{}, fat.ErrTooSmall},
		{"full", ctx, 33 << 20, fstest.MapFS{"f": {Data: make([]byte, 40<<20)}}, fat.ErrTooSmall},
		{"case", ctx, 64 << 20, fstest.MapFS{"f/a.txt": {}, "f/A.TXT": {}}, fat.ErrName},
		{"colon", ctx, 64 << 20, fstest.MapFS{"a:b": {}}, fat.ErrName},
		{"dot", ctx, 64 << 20, fstest.MapFS{"a.": {}}, fat.ErrName},
		{"long", ctx, 64 << 20, fstest.MapFS{strings.Repeat("x", 256): {}}, fat.ErrName},
		{"symlink", ctx, 64 << 20, fstest.MapFS{"l": {Mode: fs.ModeSymlink, Data: []byte("x")}}, fat.ErrFileType},
		{"cancelled", cancelled, 64 << 20, espTree(), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fat.Write(tc.ctx, discard{}, tc.size, tc.src)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// TestAgainstMkfs checks our geometry against mkfs.fat's for the same size:
// cluster size, reserved sectors and FAT length. (CHS geometry differs on
// purpose: mkfs.fat derives it from the device and trims the volume to a
// whole number of 63-sector tracks; we use 32x64 and the full size.)
func TestAgainstMkfs(t *testing.T) {
	testtool.Require(t, "mkfs.fat", "minfo")
	for _, size := range []int64{64 << 20, 300 << 20} {
		theirs := filepath.Join(t.TempDir(), "mkfs.img")
		if err := os.WriteFile(theirs, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(theirs, size); err != nil {
			t.Fatal(err)
		}
		testtool.Run(t, "mkfs.fat", "-F", "32", theirs)
		ours := writeVolume(t, fstest.MapFS{}, size)
		field := func(img, name string) string {
			out := testtool.Run(t, "minfo", "-i", img, "::")
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), name) {
					return strings.TrimSpace(l)
				}
			}
			t.Fatalf("minfo has no %q:\n%s", name, out)
			return ""
		}
		for _, f := range []string{"cluster size", "reserved (boot) sectors", "Big fatlen", "sector size"} {
			if a, b := field(ours, f), field(theirs, f); a != b {
				t.Errorf("%d MiB: ours %q, mkfs.fat %q", size>>20, a, b)
			}
		}
	}
}

// TestFsckSeesDamage makes sure the fsck check above can fail: a wrong
// free-cluster count in FSInfo, a FAT entry that cuts a file's cluster chain
// and a backup boot sector that differs are found. fsck.fat's exit status 1
// means "recoverable errors detected" (with -n nothing is changed); the
// undamaged volume exits 0. A differing backup boot sector fsck.fat calls
// "mostly harmless": it exits 0 and only says so, which is why fsck() above
// also reads the output.
func TestFsckSeesDamage(t *testing.T) {
	for name, tc := range map[string]struct {
		off  int64 // -1: undamaged
		want int
		says string
	}{
		"undamaged":   {-1, 0, ""},
		"fsinfo-free": {512 + 488, 1, "Free cluster summary wrong"},
		"fat-chain":   {32*512 + 200, 1, "cluster chain length is"},
		"backup-boot": {6*512 + 67, 0, "differences between boot sector and its backup"},
	} {
		t.Run(name, func(t *testing.T) {
			img := writeVolume(t, espTree(), 64<<20)
			if tc.off >= 0 {
				f, err := os.OpenFile(img, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteAt([]byte{0x5A}, tc.off); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
			out, status := testtool.Exit(t, "fsck.vfat", "-n", img)
			if status != tc.want {
				t.Errorf("fsck.vfat -n exits %d, want %d:\n%s", status, tc.want, out)
			}
			if tc.says != "" && !strings.Contains(out, tc.says) {
				t.Errorf("fsck.vfat -n does not say %q:\n%s", tc.says, out)
			}
		})
	}
}
