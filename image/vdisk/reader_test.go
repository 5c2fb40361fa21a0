package vdisk_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
	"github.com/hardvm/hardvm/internal/testtool"
)

// writeFile writes the raw disk at raw with w into dir and returns the path.
func writeFile(t testing.TB, w vdisk.Writer, raw, dir string) string {
	t.Helper()
	src, err := vdisk.OpenFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := os.CreateTemp(dir, "ours-*"+w.Format().Ext())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := w.WriteDisk(context.Background(), f, src); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// openFile opens the disk file at p with vdisk.Open.
func openFile(t testing.TB, p string) *vdisk.Reader {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := vdisk.Open(f, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(p), err)
	}
	return r
}

// compareRaw reads r whole in 1 MiB reads, then at random unaligned
// offsets and lengths, and wants the raw disk's bytes (zeros past its end,
// up to the virtual size).
func compareRaw(t *testing.T, r *vdisk.Reader, raw string, vsize int64) {
	t.Helper()
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != vsize {
		t.Fatalf("size %d, want %d", r.Size(), vsize)
	}
	want = append(want, make([]byte, vsize-int64(len(want)))...)
	got := make([]byte, vsize)
	for off := int64(0); off < vsize; off += 1 << 20 {
		end := min(off+1<<20, vsize)
		if n, err := r.ReadAt(got[off:end], off); n != int(end-off) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", end-off, off, n, err)
		}
	}
	if !bytes.Equal(got, want) {
		i := 0
		for got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: guest byte %d differs from the raw disk", r.Format(), i)
	}
	rng := rand.New(rand.NewPCG(uint64(vsize), 9))
	for range 200 {
		off := rng.Int64N(vsize)
		n := min(rng.Int64N(300<<10)+1, vsize-off)
		b := make([]byte, n)
		if k, err := r.ReadAt(b, off); k != int(n) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, k, err)
		}
		if !bytes.Equal(b, want[off:off+n]) {
			t.Fatalf("%s: %d bytes at %d differ from the raw disk", r.Format(), n, off)
		}
	}
	// Past the end: io.EOF, and a short read across it.
	if n, err := r.ReadAt(make([]byte, 1024), vsize-512); n != 512 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v; want 512, io.EOF", n, err)
	}
	if n, err := r.ReadAt(make([]byte, 1), vsize); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}
}

// TestReaderOurs reads the files our writers make of the conformance
// disks and wants the raw disk back, byte for byte; qemu-img agrees the
// file is that disk (vdisktest.Check).
func TestReaderOurs(t *testing.T) {
	testtool.Require(t, "qemu-img", "tar", "xmllint")
	dir := t.TempDir()
	for _, size := range []int64{8 << 20, 7<<20 + 64<<10 + 3*512} {
		d := vdisktest.MakeDisk(t, dir, size)
		for _, w := range []vdisk.Writer{
			vdisk.QCOW2{}, vdisk.QCOW2{Compress: true}, vdisk.QCOW2{ClusterSize: 4096, Compress: true},
			vdisk.VMDK{}, vdisk.OVA{}, vdisk.VHD{}, vdisk.Raw{},
		} {
			t.Run(fmt.Sprintf("%d/%+v", size, w), func(t *testing.T) {
				p := writeFile(t, w, d.Path, t.TempDir())
				vsize := vdisk.VirtualSize(w, size)
				vdisktest.Check(t, w.Format(), d.Path, p, vsize)
				r := openFile(t, p)
				if r.Format() != w.Format() {
					t.Errorf("format %s, want %s", r.Format(), w.Format())
				}
				compareRaw(t, r, d.Path, vsize)
			})
		}
	}
}

// TestReaderQEMU reads what `qemu-img convert` makes of the same disks:
// qcow2 v3 and v2, deflate-compressed (-c), small clusters; VMDK
// streamOptimized and monolithicSparse; a fixed VHD.
func TestReaderQEMU(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	for _, size := range []int64{8 << 20, 7<<20 + 64<<10 + 3*512} {
		d := vdisktest.MakeDisk(t, dir, size)
		for i, args := range [][]string{
			{"-O", "qcow2"},
			{"-O", "qcow2", "-c"},
			{"-O", "qcow2", "-c", "-o", "cluster_size=4096"},
			{"-O", "qcow2", "-o", "compat=0.10,cluster_size=2097152"},
			{"-O", "qcow2", "-c", "-o", "compression_type=zlib,compat=1.1"},
			{"-O", "vmdk", "-o", "subformat=streamOptimized"},
			{"-O", "vmdk", "-o", "subformat=monolithicSparse"},
			{"-O", "vmdk", "-o", "subformat=monolithicSparse,zeroed_grain=on"},
			{"-O", "vpc", "-o", "subformat=fixed,force_size=on"},
		} {
			t.Run(fmt.Sprintf("%d/%s", size, strings.Join(args, " ")), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), fmt.Sprintf("qemu-%d", i))
				testtool.Run(t, "qemu-img", append(append([]string{"convert", "-f", "raw"}, args...), d.Path, p)...)
				r := openFile(t, p)
				vsize := size
				if args[1] == "vmdk" {
					vsize = (size + 511) / 512 * 512
				}
				compareRaw(t, r, d.Path, vsize)
			})
		}
	}
}

// TestReaderRefuses wants a typed error for each disk file the readers do
// not read, made by qemu-img or by altering our writers' output.
func TestReaderRefuses(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	d := vdisktest.MakeDisk(t, dir, 4<<20)
	// q creates a 4 MiB file of format with qemu-img create's options.
	q := func(name, format string, opts ...string) string {
		p := filepath.Join(dir, name)
		testtool.Run(t, "qemu-img", append(append([]string{"create", "-f", format}, opts...), p, "4M")...)
		return p
	}
	q("base.qcow2", "qcow2")
	alter := func(name string, w vdisk.Writer, fn func(b []byte)) string {
		b, err := os.ReadFile(writeFile(t, w, d.Path, t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		fn(b)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	be := binary.BigEndian
	// The first L2 entry of our qcow2 (the header says where L1 is).
	l2Entry := func(b []byte) int {
		l1 := be.Uint64(b[40:])
		return int(be.Uint64(b[l1:]) & 0x00fffffffffffe00)
	}
	for _, c := range []struct {
		name  string
		path  string
		want  error
		field string
	}{
		{"qcow2 backing file", q("b.qcow2", "qcow2", "-u", "-b", "base.qcow2", "-F", "qcow2"), vdisk.ErrBackingFile, "backing_file_offset"},
		{"qcow2 external data", q("e.qcow2", "qcow2", "-o", "data_file="+filepath.Join(dir, "e.raw")), vdisk.ErrExternalData, ""},
		{"qcow2 extended L2", q("x.qcow2", "qcow2", "-o", "extended_l2=on"), vdisk.ErrUnsupported, "incompatible_features"},
		{"qcow2 zstd", q("z.qcow2", "qcow2", "-o", "compression_type=zstd"), vdisk.ErrUnsupported, "compression_type"},
		{"qcow2 unknown incompatible bit", alter("u.qcow2", vdisk.QCOW2{}, func(b []byte) { b[72+7] |= 1 << 6 }), vdisk.ErrUnsupported, "incompatible_features"},
		{"qcow2 encrypted", alter("c.qcow2", vdisk.QCOW2{}, func(b []byte) { b[35] = 1 }), vdisk.ErrUnsupported, "crypt_method"},
		{"qcow2 L1 beyond the file", alter("l1.qcow2", vdisk.QCOW2{}, func(b []byte) {
			be.PutUint64(b[be.Uint64(b[40:]):], uint64(len(b))<<1|1<<63)
		}), vdisk.ErrInvalid, "l1_table"},
		{"qcow2 L1 reserved bits", alter("l1r.qcow2", vdisk.QCOW2{}, func(b []byte) { b[be.Uint64(b[40:])+7] |= 1 }), vdisk.ErrInvalid, "l1_table"},
		{"vhd dynamic", q("d.vhd", "vpc"), vdisk.ErrFormat, ""},
		{"vmdk split", q("s.vmdk", "vmdk", "-o", "subformat=twoGbMaxExtentSparse"), vdisk.ErrExternalData, ""},
		{"ova disk capacity", alter("c.ova", vdisk.OVA{}, func(b []byte) {
			i := bytes.Index(b, []byte(`ovf:capacity="`)) + len(`ovf:capacity="`)
			b[i]++
		}), vdisk.ErrMismatch, "ovf.Disk.capacity"},
		{"ova vmdk elsewhere", alter("h.ova", vdisk.OVA{}, func(b []byte) {
			i := bytes.Index(b, []byte(`ovf:href="`)) + len(`ovf:href="`)
			copy(b[i:], "../")
		}), vdisk.ErrExternalData, "ovf.File.href"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := os.Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			r, err := vdisk.Open(f, fi.Size())
			if err == nil {
				_, err = r.ReadAt(make([]byte, r.Size()), 0)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var fe *vdisk.FieldError
			if c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field) {
				t.Errorf("err = %v, want a FieldError of field %s", err, c.field)
			}
		})
	}

	// Altered data: the file opens, reading the altered part fails.
	for _, c := range []struct {
		name  string
		path  string
		field string
	}{
		{"qcow2 cluster beyond the file", alter("d1.qcow2", vdisk.QCOW2{}, func(b []byte) {
			be.PutUint64(b[l2Entry(b):], uint64(len(b)+1<<16)|1<<63)
		}), "data_cluster"},
		{"qcow2 unaligned cluster", alter("d2.qcow2", vdisk.QCOW2{}, func(b []byte) {
			be.PutUint64(b[l2Entry(b):], be.Uint64(b[l2Entry(b):])+512)
		}), "l2_entry"},
		{"qcow2 compressed cluster garbled", alter("d3.qcow2", vdisk.QCOW2{Compress: true}, func(b []byte) {
			e := be.Uint64(b[l2Entry(b)+16*8:]) // 1 MiB in: compressible text
			if e&(1<<62) == 0 {
				t.Fatalf("L2 entry %#x is not of a compressed cluster", e)
			}
			copy(b[e&(1<<54-1):], bytes.Repeat([]byte{0xff}, 64))
		}), "compressed_cluster"},
		{"vmdk grain marker of another grain", alter("g1.vmdk", vdisk.VMDK{}, func(b []byte) {
			b[128*512]++ // the first grain's marker follows the 128-sector overhead
		}), "grain_marker"},
		{"vmdk grain garbled", alter("g2.vmdk", vdisk.VMDK{}, func(b []byte) {
			b[128*512+12+100] ^= 0x55
		}), "grain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := openFile(t, c.path)
			_, err := r.ReadAt(make([]byte, r.Size()), 0)
			var fe *vdisk.FieldError
			if !errors.Is(err, vdisk.ErrInvalid) || !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("err = %v, want a FieldError of field %s", err, c.field)
			}
		})
	}
}

// TestReaderMemory reads a 64 MiB compressed qcow2 and VMDK whole and
// wants the heap to stay far below the disk: tables and a few clusters.
func TestReaderMemory(t *testing.T) {
	dir := t.TempDir()
	d := vdisktest.MakeDisk(t, dir, 64<<20)
	for _, w := range []vdisk.Writer{vdisk.QCOW2{Compress: true}, vdisk.VMDK{}} {
		r := openFile(t, writeFile(t, w, d.Path, dir))
		buf := make([]byte, 1<<20)
		peak := vdisktest.PeakHeap(func() {
			for off := int64(0); off < r.Size(); off += int64(len(buf)) {
				if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
					t.Error(err)
					return
				}
			}
		})
		if peak > 8<<20 {
			t.Errorf("%s: reading 64 MiB peaked at %d bytes of heap", w.Format(), peak)
		}
	}
}

// BenchmarkReader reads a 64 MiB disk (half random data, half holes)
// through each reader in 1 MiB reads: the throughput is of the guest disk.
func BenchmarkReader(b *testing.B) {
	src, size := benchDisk(b)
	defer src.Close()
	for _, c := range []struct {
		name string
		w    vdisk.Writer
	}{{"qcow2", vdisk.QCOW2{}}, {"qcow2-deflate", vdisk.QCOW2{Compress: true}}, {"vmdk", vdisk.VMDK{}}, {"ova", vdisk.OVA{}}} {
		w := c.w
		b.Run(c.name, func(b *testing.B) {
			r := openFile(b, writeFile(b, w, src.Name(), b.TempDir()))
			buf := make([]byte, 1<<20)
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				for off := int64(0); off < size; off += int64(len(buf)) {
					if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// TestReaderQCOW2ZeroClusters reads a qcow2 whose allocated clusters
// qemu-io zeroed (zero-flag L2 entries, kept allocated or unmapped) and
// wants what `qemu-img convert -O raw` makes of it.
func TestReaderQCOW2ZeroClusters(t *testing.T) {
	testtool.Require(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	d := vdisktest.MakeDisk(t, dir, 8<<20)
	p := filepath.Join(dir, "z.qcow2")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", d.Path, p)
	testtool.Run(t, "qemu-io", "-f", "qcow2", "-c", "write -z 0 64k", "-c", "write -z -u 1M 128k", "-c", "write -z 2M 4k", p)
	raw := filepath.Join(dir, "z.raw")
	testtool.Run(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", p, raw)
	if b, _ := os.ReadFile(raw); !bytes.Equal(b[:64<<10], make([]byte, 64<<10)) {
		t.Fatal("qemu-io did not zero the first cluster")
	}
	compareRaw(t, openFile(t, p), raw, 8<<20)
}
