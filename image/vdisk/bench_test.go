package vdisk_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
)

// benchDisk is a 64 MiB sparse disk: 32 MiB of random data in 4 MiB runs,
// each followed by a 4 MiB hole. The figures against qemu-img on 2 GiB are
// in `make bench-compare`.
func benchDisk(b *testing.B) (*vdisk.FileSource, int64) {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.raw")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4<<20)
	for off := int64(0); off < 64<<20; off += 8 << 20 {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	src, err := vdisk.OpenFile(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	return src, 32 << 20
}

func benchWriter(b *testing.B, w vdisk.Writer) {
	src, data := benchDisk(b)
	out := filepath.Join(b.TempDir(), "out")
	b.SetBytes(data)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.WriteDisk(context.Background(), f, src); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkRaw(b *testing.B)             { benchWriter(b, vdisk.Raw{}) }
func BenchmarkQCOW2(b *testing.B)           { benchWriter(b, vdisk.QCOW2{}) }
func BenchmarkQCOW2Compressed(b *testing.B) { benchWriter(b, vdisk.QCOW2{Compress: true}) }
func BenchmarkVHD(b *testing.B)             { benchWriter(b, vdisk.VHD{}) }
func BenchmarkVMDK(b *testing.B)            { benchWriter(b, vdisk.VMDK{}) }
func BenchmarkGCE(b *testing.B)             { benchWriter(b, vdisk.GCE{}) }
func BenchmarkOVA(b *testing.B)             { benchWriter(b, vdisk.OVA{}) }
