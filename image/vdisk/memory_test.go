package vdisk_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
)

// patternReader reads as a repeating block of random bytes: data that does
// not compress, without a file behind it.
type patternReader struct{ pat []byte }

func (p patternReader) ReadAt(b []byte, off int64) (int, error) {
	for n := 0; n < len(b); {
		i := (off + int64(n)) % int64(len(p.pat))
		n += copy(b[n:], p.pat[i:])
	}
	return len(b), nil
}

// discard is a Destination and a HoleWriter that keeps nothing.
type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error)            { d.n += int64(len(p)); return len(p), nil }
func (d *discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (d *discard) WriteZeros(n int64) error               { d.n += n; return nil }
func (d *discard) ReadAt(p []byte, _ int64) (int, error)  { clear(p); return len(p), nil }
func (d *discard) String() string                         { return fmt.Sprint(d.n) }

// heapAllocs returns the bytes allocated on the heap since the program
// started (a counter that only grows).
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestMemoryBounded writes the same 24 MiB of data as a 1 GiB and as a
// 256 GiB sparse disk with every writer, and checks from the runtime's own
// counters that what a writer allocates is bounded (so is its heap, hence
// its share of the process's resident set) and does not grow with the
// disk's virtual size: memory in proportion to the size would show as
// megabytes more for the larger disk. It does not run in parallel
// with other tests, whose allocations the counter would see.
func TestMemoryBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pat := make([]byte, 1<<20+4099)
	for i := range pat {
		pat[i] = byte(rng.Uint32())
	}
	source := func(size int64) vdisk.Source {
		// Eight 3 MiB runs of data, four near the start of the disk
		// and four at its end, as a partition table, a boot partition
		// and a root file system lie; holes between them.
		var ext []vdisk.Extent
		for i := range int64(4) {
			ext = append(ext, vdisk.Extent{Offset: i * (4 << 20), Length: 3 << 20})
			ext = append(ext, vdisk.Extent{Offset: size - (4-i)*(4<<20), Length: 3 << 20})
		}
		return vdisk.NewSource(patternReader{pat}, size, ext)
	}
	writers := []vdisk.Writer{
		vdisk.Raw{}, vdisk.VHD{}, vdisk.QCOW2{}, vdisk.QCOW2{Compress: true},
		vdisk.VMDK{}, vdisk.GCE{}, vdisk.OVA{},
	}
	const (
		maxAllocs = 40 << 20 // whatever the size
		// From 1 GiB to 256 GiB: a table of 8 bytes per 64 KiB of
		// virtual disk would add 32 MiB; the pools' and compressors'
		// allocations vary by about a MiB with scheduling.
		maxGrowth = 4 << 20
	)
	for _, w := range writers {
		name := string(w.Format())
		if q, ok := w.(vdisk.QCOW2); ok && q.Compress {
			name += "-compressed"
		}
		t.Run(name, func(t *testing.T) {
			var allocs [2]uint64
			for i, size := range []int64{1 << 30, 256 << 30} {
				src := source(size)
				runtime.GC()
				before := heapAllocs()
				if err := w.WriteDisk(context.Background(), &discard{}, src); err != nil {
					t.Fatalf("%d GiB: %v", size>>30, err)
				}
				allocs[i] = heapAllocs() - before
				t.Logf("%2d GiB disk, 24 MiB of data: %.1f MiB allocated", size>>30, float64(allocs[i])/(1<<20))
			}
			if allocs[1] > maxAllocs {
				t.Errorf("writing a 256 GiB disk allocated %d MiB (bound %d MiB)", allocs[1]>>20, maxAllocs>>20)
			}
			if allocs[1] > allocs[0]+maxGrowth {
				t.Errorf("a 256 GiB disk took %d KiB more than a 1 GiB one with the same data (bound %d KiB)", (allocs[1]-allocs[0])>>10, maxGrowth>>10)
			}
		})
	}
}
