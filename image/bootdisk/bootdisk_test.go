package bootdisk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/image/bootdisk"
	"github.com/hardvm/hardvm/image/verity"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// built is one real bootable disk shared by the tests: the base variant for
// qemu resolved and built from boottest.Repository (Debian's kernel,
// busybox and systemd EFI stub repackaged as signed APKs; baselayout and
// systemd are test stand-ins, see boottest.Repository), with the UKI that
// boot.ESP builds on its ESP, as the pipeline writes it.
type built struct {
	path   string
	disk   *image.Disk
	lock   *artifact.Lock
	kernel string
}

var (
	buildOnce sync.Once
	theDisk   *built
	buildErr  error
	tmpDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

func buildDisk(t *testing.T) *built {
	t.Helper()
	buildOnce.Do(func() { theDisk, buildErr = build(t) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return theDisk
}

func build(t *testing.T) (*built, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bootdisk-test")
	if err != nil {
		return nil, err
	}
	tmpDir = dir
	repo := boottest.Repository(t, filepath.Join(dir, "repo"))
	spec := vm.Spec{
		Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, Kernel: vm.Stable,
		Repositories:    []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}}},
		Packages:        []string{"systemd-boot-efi"},
		SourceDateEpoch: 1700000000,
	}
	lock, err := image.Resolve(ctx, spec)
	if err != nil {
		return nil, err
	}
	root, err := image.Build(ctx, lock, image.WithBuildStagingDir(filepath.Join(dir, "staging")))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	kv, err := boot.KernelVersion(root)
	if err != nil {
		return nil, err
	}
	layout := image.Layout{Arch: spec.Arch, Seed: "bootdisk", SourceDateEpoch: spec.SourceDateEpoch, ESPSize: 40 << 20}
	layout.ESPFunc = func(ctx context.Context, rootHash string) (map[string][]byte, error) {
		return boot.ESP(ctx, root, rootHash, boot.WithSourceDateEpoch(spec.SourceDateEpoch))
	}
	d, err := image.Assemble(ctx, root, layout, filepath.Join(dir, "disk.raw"))
	if err != nil {
		return nil, err
	}
	return &built{path: d.Path, disk: d, lock: lock, kernel: kv}, nil
}

// patched reads r with some bytes replaced: an altered disk without a
// copy of it.
type patched struct {
	r       io.ReaderAt
	patches map[int64]byte
}

func (p patched) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.r.ReadAt(b, off)
	for at, v := range p.patches {
		if at >= off && at < off+int64(n) {
			b[at-off] = v
		}
	}
	return n, err
}

// openCopy opens the disk with the bytes change returns replaced.
func openCopy(t *testing.T, b *built, change func(f *os.File) map[int64]byte, opts ...bootdisk.Option) (*bootdisk.Disk, error) {
	t.Helper()
	f, err := os.Open(b.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	p := patched{r: f}
	if change != nil {
		p.patches = change(f)
	}
	return bootdisk.Open(context.Background(), p, fi.Size(), opts...)
}

func TestOpenRealDisk(t *testing.T) {
	testtool.Require(t, "veritysetup", "fsck.erofs")
	b := buildDisk(t)
	d, err := openCopy(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Arch != vm.X86_64 || d.RootHash.String() != b.disk.RootHash || d.RootHashFrom != bootdisk.RootHashFromUKI || !d.PartitionUUIDsMatch {
		t.Errorf("arch %s root hash %s from %s (uuids match %v), want x86_64 %s from the UKI", d.Arch, d.RootHash, d.RootHashFrom, d.PartitionUUIDsMatch, b.disk.RootHash)
	}
	if !strings.Contains(d.Cmdline, "roothash="+b.disk.RootHash) || d.UKIUname != b.kernel || d.UKISigned || d.Loader != "EFI/BOOT/BOOTX64.EFI" {
		t.Errorf("cmdline %q uname %q signed %v loader %s", d.Cmdline, d.UKIUname, d.UKISigned, d.Loader)
	}
	pkgs, err := d.Packages()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, p := range pkgs {
		got = append(got, p.Name+"="+p.Version+"/"+p.Arch)
	}
	for _, p := range b.lock.Packages {
		want = append(want, p.Name+"="+p.Version+"/"+p.Arch)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("installed packages\n%q\nwant the lock's\n%q", got, want)
	}
	osr, err := d.OSRelease()
	if err != nil || osr["ID"] == "" {
		t.Errorf("os-release %v: %v", osr, err)
	}

	// Independent oracles: veritysetup verifies the partitions with the
	// UKI's root hash, and fsck.erofs extracts the same installed database
	// from the root partition that the verified reader read.
	dir := t.TempDir()
	part := func(name string, p interface{ Sectors() uint64 }, first uint64) string {
		out := filepath.Join(dir, name)
		src, err := os.Open(b.path)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		if _, err := io.Copy(dst, io.NewSectionReader(src, int64(first)*512, int64(p.Sectors())*512)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	rootImg := part("root", d.Root, d.Root.FirstLBA)
	hashImg := part("hash", d.Verity, d.Verity.FirstLBA)
	testtool.Run(t, "veritysetup", "verify", rootImg, hashImg, d.RootHash.String())
	x := filepath.Join(dir, "x")
	testtool.Run(t, "fsck.erofs", "--extract="+x, rootImg)
	want1, err := os.ReadFile(filepath.Join(x, "usr/lib/apk/db/installed"))
	if err != nil {
		t.Fatal(err)
	}
	got1, err := fs.ReadFile(d.FS(), "usr/lib/apk/db/installed")
	if err != nil || !bytes.Equal(got1, want1) {
		t.Errorf("installed database differs from fsck.erofs --extract's (%d vs %d bytes): %v", len(got1), len(want1), err)
	}
}

// TestOpenTampered flips bytes the listing reads and checks that the
// verified reader refuses them, as the kernel's dm-verity target would.
func TestOpenTampered(t *testing.T) {
	b := buildDisk(t)
	d, err := openCopy(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Where the installed database's record of busybox lies.
	at := findInPartition(t, b.path, d, "P:busybox")
	flip := func(off int64) func(f *os.File) map[int64]byte {
		return func(f *os.File) map[int64]byte {
			var c [1]byte
			if _, err := f.ReadAt(c[:], off); err != nil {
				t.Fatal(err)
			}
			return map[int64]byte{off: c[0] ^ 1}
		}
	}
	// A flipped byte inside the installed database: the listing fails
	// with a data BlockError, never returns the altered bytes.
	td, err := openCopy(t, b, flip(at))
	if err != nil {
		t.Fatal(err)
	}
	_, err = td.Packages()
	var be *bootdisk.BlockError
	if !errors.As(err, &be) || be.Device != "data" || !errors.Is(err, bootdisk.ErrVerity) {
		t.Errorf("flipped installed database: %v, want a data BlockError", err)
	}
	// The same byte flipped back in a copy whose hash tree was altered
	// instead: a hash block that does not match its parent.
	hashAt := int64(d.Verity.FirstLBA)*512 + 4096 + 100
	if _, err := openCopy(t, b, flip(hashAt)); !errors.Is(err, bootdisk.ErrVerity) {
		t.Errorf("flipped hash tree: %v, want ErrVerity", err)
	}
	// A root hash other than the UKI's is refused.
	other := bytes.Clone(d.RootHash)
	other[0] ^= 1
	if _, err := openCopy(t, b, nil, bootdisk.WithRootHash(other)); !errors.Is(err, bootdisk.ErrUKI) {
		t.Errorf("WithRootHash(another): %v, want ErrUKI", err)
	}
	// Not a disk at all.
	if _, err := bootdisk.Open(context.Background(), bytes.NewReader(make([]byte, 1<<20)), 1<<20); !errors.Is(err, bootdisk.ErrLayout) {
		t.Errorf("zeros: %v, want ErrLayout", err)
	}
}

// TestOpenWithoutUKI reads a disk with no boot loader (its ESP entry
// deleted, as on a disk built without a kernel): only with a root hash
// given.
func TestOpenWithoutUKI(t *testing.T) {
	b := buildDisk(t)
	d, err := openCopy(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	deleteLoader := func(f *os.File) map[int64]byte {
		start := int64(d.ESP.FirstLBA) * 512
		esp, err := io.ReadAll(io.NewSectionReader(f, start, int64(d.ESP.Sectors())*512))
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(esp, []byte("BOOTX64 EFI"))
		if i < 0 {
			t.Fatal("no BOOTX64.EFI entry on the ESP")
		}
		return map[int64]byte{start + int64(i): 0xe5}
	}
	if _, err := openCopy(t, b, deleteLoader); !errors.Is(err, bootdisk.ErrNoUKI) {
		t.Fatalf("no UKI, no root hash: %v, want ErrNoUKI", err)
	}
	h, err := verity.ParseRootHash(b.disk.RootHash)
	if err != nil {
		t.Fatal(err)
	}
	nd, err := openCopy(t, b, deleteLoader, bootdisk.WithRootHash(h))
	if err != nil {
		t.Fatal(err)
	}
	if nd.RootHashFrom != bootdisk.RootHashGiven {
		t.Errorf("root hash from %q", nd.RootHashFrom)
	}
	if pkgs, err := nd.Packages(); err != nil || len(pkgs) != len(b.lock.Packages) {
		t.Errorf("%d packages, want %d: %v", len(pkgs), len(b.lock.Packages), err)
	}
}

// findInPartition returns the disk offset of s inside the root partition.
func findInPartition(t *testing.T, path string, d *bootdisk.Disk, s string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := int64(d.Root.FirstLBA) * 512
	buf, err := io.ReadAll(io.NewSectionReader(f, start, int64(d.Root.Sectors())*512))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(buf, []byte(s))
	if i < 0 {
		t.Fatalf("%q not in the root partition", s)
	}
	return start + int64(i)
}

func TestParseOSRelease(t *testing.T) {
	m := bootdisk.ParseOSRelease("# c\nID=wolfi\nNAME=\"Wolfi \\\"x\\\"\"\nVERSION_ID='20230201'\nbad line\n=x\n")
	if m["ID"] != "wolfi" || m["NAME"] != `Wolfi "x"` || m["VERSION_ID"] != "20230201" || len(m) != 3 {
		t.Errorf("%q", m)
	}
}
