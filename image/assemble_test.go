package image_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/fat"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

const testEpoch = 1700000000

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// testRoot is a small rootfs whose entries carry *image.FileAttr, as
// image.Rootfs entries do.
func testRoot() fstest.MapFS {
	bb := &image.FileAttr{Ino: 5, Nlink: 2, Package: "busybox"}
	return fstest.MapFS{
		".":               {Mode: fs.ModeDir | 0o755},
		"usr/bin/busybox": {Mode: 0o755, Data: randBytes(1, 900<<10), Sys: bb},
		"usr/bin/sh":      {Mode: 0o755, Data: randBytes(1, 900<<10), Sys: bb},
		"usr/bin/su":      {Mode: 0o4755, Data: randBytes(2, 30000), Sys: &image.FileAttr{Xattrs: map[string]string{"security.capability": "\x01\x00\x00\x02"}}},
		"bin":             {Mode: fs.ModeSymlink | 0o777, Data: []byte("usr/bin")},
		"etc/shadow":      {Mode: 0o640, Data: []byte("root:*:1::::::\n"), Sys: &image.FileAttr{GID: 42}},
		"home/user":       {Mode: fs.ModeDir | 0o700, Sys: &image.FileAttr{UID: 1000, GID: 1000}},
		"var":             {Mode: fs.ModeDir | 0o755},
	}
}

func testLayout() image.Layout {
	return image.Layout{
		Arch:            vm.X86_64,
		ESP:             map[string][]byte{"EFI/BOOT/BOOTX64.EFI": randBytes(9, 200<<10), "loader/loader.conf": []byte("timeout 0\n")},
		Seed:            "assemble-test",
		SourceDateEpoch: testEpoch,
	}
}

func assembleDisk(t *testing.T, root fs.FS, l image.Layout, opts ...image.AssembleOption) *image.Disk {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	d, err := image.Assemble(context.Background(), root, l, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func part(t *testing.T, d *image.Disk, prefix string) image.Partition {
	t.Helper()
	for _, p := range d.Partitions {
		if strings.HasPrefix(p.Name, prefix) {
			return p
		}
	}
	t.Fatalf("no partition %s* in %+v", prefix, d.Partitions)
	return image.Partition{}
}

// extract copies a partition into its own file.
func extract(t *testing.T, d *image.Disk, p image.Partition) string {
	t.Helper()
	in, err := os.Open(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), p.Name+".img")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, io.NewSectionReader(in, p.Offset, p.Size)); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameFile compares two files in chunks (SHA-256 is slow under -race).
func sameFile(t *testing.T, a, b string) bool {
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
			return ea == eb || (errors.Is(ea, io.ErrUnexpectedEOF) && errors.Is(eb, io.ErrUnexpectedEOF))
		}
	}
}

func TestAssemble(t *testing.T) {
	l := testLayout()
	l.VarSize = 32 << 20
	d := assembleDisk(t, testRoot(), l)
	if fi, err := os.Stat(d.Path); err != nil || fi.Size() != d.Size {
		t.Fatalf("disk file: %v, %v; want %d bytes", fi, err, d.Size)
	}

	// GPT.
	out := testtool.Run(t, "sgdisk", "-v", d.Path)
	if !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	var sf struct {
		PartitionTable struct {
			ID         string `json:"id"`
			Partitions []struct {
				Start int64  `json:"start"`
				Size  int64  `json:"size"`
				Type  string `json:"type"`
				UUID  string `json:"uuid"`
				Name  string `json:"name"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(testtool.Run(t, "sfdisk", "--json", d.Path)), &sf); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(sf.PartitionTable.ID, d.DiskGUID) {
		t.Errorf("disk GUID %s, sfdisk %s", d.DiskGUID, sf.PartitionTable.ID)
	}
	if len(sf.PartitionTable.Partitions) != len(d.Partitions) || len(d.Partitions) != 4 {
		t.Fatalf("sfdisk sees %d partitions, Disk has %d, want 4", len(sf.PartitionTable.Partitions), len(d.Partitions))
	}
	for i, p := range d.Partitions {
		s := sf.PartitionTable.Partitions[i]
		if s.Start*512 != p.Offset || s.Size*512 != p.Size || !strings.EqualFold(s.Type, p.Type) || !strings.EqualFold(s.UUID, p.UUID) || s.Name != p.Name {
			t.Errorf("partition %d: sfdisk %+v, Disk %+v", i, s, p)
		}
	}
	// DPS verity convention: root UUID = first 128 bits of the root hash,
	// verity UUID = last 128 bits.
	rootP, verP := part(t, d, "root-x86-64"), part(t, d, "root-x86-64-verity")
	hexUUID := func(u string) string { return strings.ReplaceAll(strings.ToLower(u), "-", "") }
	if hexUUID(rootP.UUID) != d.RootHash[:32] || hexUUID(verP.UUID) != d.RootHash[len(d.RootHash)-32:] {
		t.Errorf("root %s / verity %s UUIDs do not follow root hash %s", rootP.UUID, verP.UUID, d.RootHash)
	}

	// The root partition is an erofs that fsck.erofs accepts.
	rootImg := extract(t, d, rootP)
	testtool.Run(t, "fsck.erofs", "--extract="+filepath.Join(t.TempDir(), "x"), rootImg)
	if dump := testtool.Run(t, "dump.erofs", "--path=/usr/bin/sh", rootImg); !strings.Contains(dump, "Links: 2") {
		t.Errorf("hardlink lost:\n%s", dump)
	}

	// dm-verity: veritysetup accepts our tree with our root hash, the hash
	// device being the disk itself at the verity partition's offset.
	testtool.Run(t, "veritysetup", "verify", rootImg, d.Path, d.RootHash, fmt.Sprintf("--hash-offset=%d", verP.Offset))
	dump := testtool.Run(t, "veritysetup", "dump", d.Path, fmt.Sprintf("--hash-offset=%d", verP.Offset))
	if !strings.Contains(dump, d.Salt) || !strings.Contains(dump, "sha256") {
		t.Errorf("verity superblock does not carry salt %s:\n%s", d.Salt, dump)
	}
	// One flipped byte in the root fails verification.
	f, err := os.OpenFile(rootImg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	f.ReadAt(b, 8192)
	f.WriteAt([]byte{b[0] ^ 1}, 8192)
	f.Close()
	if out, err := exec.Command("veritysetup", "verify", rootImg, d.Path, d.RootHash, fmt.Sprintf("--hash-offset=%d", verP.Offset)).CombinedOutput(); err == nil {
		t.Errorf("veritysetup verify accepts a flipped byte:\n%s", out)
	}

	// The ESP is a clean FAT32 holding the layout's files.
	esp := extract(t, d, part(t, d, "esp"))
	testtool.Run(t, "fsck.vfat", "-n", esp)
	ls := testtool.Run(t, "mdir", "-i", esp, "-/", "-b", "::/")
	for name := range l.ESP {
		if !strings.Contains(ls, "::/"+name) {
			t.Errorf("mdir does not list %s:\n%s", name, ls)
		}
	}
	got := filepath.Join(t.TempDir(), "boot.efi")
	testtool.Run(t, "mcopy", "-i", esp, "::/EFI/BOOT/BOOTX64.EFI", got)
	if gb, _ := os.ReadFile(got); !bytes.Equal(gb, l.ESP["EFI/BOOT/BOOTX64.EFI"]) {
		t.Error("BOOTX64.EFI differs after mcopy")
	}

	// /var is a clean ext4.
	testtool.Run(t, "e2fsck", "-fn", extract(t, d, part(t, d, "var")))

	// Holes stay holes.
	var st syscall.Stat_t
	if err := syscall.Stat(d.Path, &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc > 16<<20 {
		t.Errorf("disk of %d bytes allocates %d", d.Size, alloc)
	}
}

func TestAssembleReproducible(t *testing.T) {
	l := testLayout()
	l.Size = 256 << 20
	a := assembleDisk(t, testRoot(), l)
	b := assembleDisk(t, testRoot(), l, image.WithAssembleWorkers(1))
	if !sameFile(t, a.Path, b.Path) {
		t.Error("two assemblies of the same root and layout differ")
	}
	a.Path, b.Path = "", ""
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("Disk values differ:\n%+v\n%+v", a, b)
	}
	l.Seed = "other"
	c := assembleDisk(t, testRoot(), l)
	if c.DiskGUID == a.DiskGUID || c.Salt == a.Salt || c.RootHash == a.RootHash {
		t.Errorf("another seed gives the same GUID, salt or root hash: %+v", c)
	}
	out := testtool.Run(t, "sgdisk", "-v", c.Path)
	if !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
}

func TestAssembleArm64AndSHA512(t *testing.T) {
	l := testLayout()
	l.Arch = vm.Aarch64
	l.HashAlgo = "sha512"
	d := assembleDisk(t, testRoot(), l)
	rootP, verP := part(t, d, "root-arm64"), part(t, d, "root-arm64-verity")
	if len(d.RootHash) != 128 {
		t.Errorf("sha512 root hash %q", d.RootHash)
	}
	testtool.Run(t, "veritysetup", "verify", extract(t, d, rootP), d.Path, d.RootHash, fmt.Sprintf("--hash-offset=%d", verP.Offset), "--hash=sha512")
}

func TestAssembleCancel(t *testing.T) {
	dir := t.TempDir()
	for _, stage := range []string{"erofs", "verity", "esp"} {
		t.Run(stage, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := filepath.Join(dir, "disk.raw")
			_, err := image.Assemble(ctx, testRoot(), testLayout(), p, image.WithAssembleProgress(progress.Func(func(s string, done, total int64) {
				if s == stage {
					cancel()
				}
			})))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

// TestAssembleVarFillsDisk: every disk has /var; with a disk size it takes
// the rest of the disk, without one DefaultVarSize; e2fsck accepts it and
// blkid sees the ext4 file system labelled var that fstab mounts by its
// partition name.
func TestAssembleVarFillsDisk(t *testing.T) {
	l := testLayout()
	l.Size = 512 << 20
	d := assembleDisk(t, testRoot(), l)
	v := part(t, d, "var")
	if end := v.Offset + v.Size; end != d.Size-1<<20 || v.Name != "var" {
		t.Errorf("var partition %+v ends at %d, want the rest of the %d-byte disk (before the backup GPT's MiB)", v, end, d.Size)
	}
	img := extract(t, d, v)
	testtool.Run(t, "e2fsck", "-fn", img)
	if out := testtool.Run(t, "blkid", "-o", "export", img); !strings.Contains(out, "LABEL=var\n") || !strings.Contains(out, "TYPE=ext4\n") {
		t.Errorf("blkid:\n%s", out)
	}
	l.Size = 0
	d = assembleDisk(t, testRoot(), l)
	if v := part(t, d, "var"); v.Size != image.DefaultVarSize {
		t.Errorf("without a disk size /var is %d bytes, want %d", v.Size, image.DefaultVarSize)
	}
}

func TestAssembleErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*image.Layout)
		want error
	}{
		{"arch", func(l *image.Layout) { l.Arch = "sparc" }, image.ErrLayout},
		{"hash", func(l *image.Layout) { l.HashAlgo = "md5" }, image.ErrLayout},
		{"esp-align", func(l *image.Layout) { l.ESPSize = 40<<20 + 512 }, image.ErrLayout},
		{"esp-small", func(l *image.Layout) { l.ESPSize = 8 << 20 }, fat.ErrTooSmall},
		{"small", func(l *image.Layout) { l.Size = 64 << 20 }, image.ErrDiskTooSmall},
		{"var-small", func(l *image.Layout) { l.VarSize = 8 << 20 }, image.ErrLayout},
		{"var-align", func(l *image.Layout) { l.VarSize = 32<<20 + 4096 }, image.ErrLayout},
		{"var-too-big", func(l *image.Layout) { l.Size = 256 << 20; l.VarSize = 256 << 20 }, image.ErrDiskTooSmall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := testLayout()
			tc.edit(&l)
			dir := t.TempDir()
			_, err := image.Assemble(context.Background(), testRoot(), l, filepath.Join(dir, "d.raw"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var se *image.SizeError
			if tc.want == image.ErrDiskTooSmall && (!errors.As(err, &se) || se.Need <= se.Have) {
				t.Errorf("err %v carries no SizeError", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}
