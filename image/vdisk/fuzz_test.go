package vdisk_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
	"github.com/hardvm/hardvm/vm"
)

// head keeps the first and last 64 KiB of a file: the headers, the
// descriptor and the footers, which is all Inspect reads.
func head(b []byte) []byte {
	if len(b) <= 128<<10 {
		return b
	}
	return append(bytes.Clone(b[:64<<10]), b[len(b)-64<<10:]...)
}

func fuzzInspect(f *testing.F, format vdisk.Format, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := vdisk.Inspect(bytes.NewReader(b), int64(len(b)), format)
		if err == nil && (info.VirtualSize < 0 || info.VirtualSize > vdisk.MaxVirtualSize) {
			t.Fatalf("accepted a virtual size of %d", info.VirtualSize)
		}
	})
}

func FuzzInspectQCOW2(f *testing.F) {
	fuzzInspect(f, vm.FormatQCOW2, writeOurs(f, vdisk.QCOW2{ClusterSize: 4096}), []byte("QFI\xfb"))
}

func FuzzInspectVHD(f *testing.F) {
	fuzzInspect(f, vm.FormatVHD, head(writeOurs(f, vdisk.VHD{})), []byte("conectix"))
}

func FuzzInspectVMDK(f *testing.F) {
	fuzzInspect(f, vm.FormatVMDK, head(writeOurs(f, vdisk.VMDK{})), []byte("KDMV"))
}

// seedDisk writes a small conformance disk with w: the fuzz seeds of the
// readers, whose tables, compressed clusters and grains the fuzzer mutates.
func seedDisk(f *testing.F, w vdisk.Writer) []byte {
	f.Helper()
	dir := f.TempDir()
	// 64 KiB of random data (a partition table), 64 KiB of text, a hole
	// and a last sector.
	d := vdisktest.MakeDisk(f, dir, 64<<10)
	raw, err := os.ReadFile(d.Path)
	if err != nil {
		f.Fatal(err)
	}
	raw = append(raw, bytes.Repeat([]byte("compressible "), 64<<10/13+1)[:64<<10]...)
	raw = append(raw, make([]byte, 128<<10+511)...)
	raw = append(raw, 1)
	p := filepath.Join(dir, "seed.raw")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(writeFile(f, w, p, dir))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// fuzzReader opens b as format and reads the start, the middle and the end
// of the guest disk: a malformed file must fail with an error, never panic,
// hang or allocate beyond the readers' bounds.
func fuzzReader(f *testing.F, format vdisk.Format, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := vdisk.NewReader(bytes.NewReader(b), int64(len(b)), format)
		if err != nil {
			if !errors.Is(err, vdisk.ErrInvalid) && !errors.Is(err, vdisk.ErrFormat) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if r.Size() < 0 || r.Size() > vdisk.MaxVirtualSize {
			t.Fatalf("accepted a virtual size of %d", r.Size())
		}
		buf := make([]byte, 256<<10)
		for _, off := range []int64{0, r.Size() / 2, max(0, r.Size()-int64(len(buf)))} {
			n, err := r.ReadAt(buf, off)
			if err == nil && n != len(buf) {
				t.Fatalf("ReadAt at %d returned %d bytes and no error", off, n)
			}
		}
	})
}

func FuzzReaderQCOW2(f *testing.F) {
	fuzzReader(f, vm.FormatQCOW2, seedDisk(f, vdisk.QCOW2{ClusterSize: 4096, Compress: true}), seedDisk(f, vdisk.QCOW2{ClusterSize: 4096}))
}

func FuzzReaderVMDK(f *testing.F) {
	fuzzReader(f, vm.FormatVMDK, seedDisk(f, vdisk.VMDK{}))
}

func FuzzReaderOVA(f *testing.F) {
	fuzzReader(f, vm.FormatOVA, seedDisk(f, vdisk.OVA{}))
}
