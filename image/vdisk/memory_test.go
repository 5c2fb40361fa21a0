package vdisk_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
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

// TestMemoryBounded writes the same 24 MiB of data as a 1 GiB and as a
// 256 GiB sparse disk with every writer, and checks from the runtime's own
// memory statistics (vdisktest.PeakHeap) that a writer's heap is bounded
// (hence its share of the process's resident set) and does not grow with
// the disk's virtual size: memory in proportion to the size would show as
// megabytes more for the larger disk. It does not run in parallel with
// other tests, whose memory the statistics would count.
func TestMemoryBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pat := make([]byte, 1<<20+4099)
	for i := range pat {
		pat[i] = byte(rng.Uint32())
	}
	source := func(size int64) vdisk.Source {
		// Eight 3 MiB runs of data: four near the start of the disk,
		// three spread over it and one at its end; holes between them.
		// On the larger disk they fall in more of the formats' tables
		// (qcow2's L2 tables cover 512 MiB, VMDK's grain tables 32 MiB).
		var ext []vdisk.Extent
		for i := range int64(4) {
			ext = append(ext, vdisk.Extent{Offset: i * (4 << 20), Length: 3 << 20})
		}
		for i := range int64(4) {
			ext = append(ext, vdisk.Extent{Offset: (size - 3<<20) / 4 * (i + 1) &^ 4095, Length: 3 << 20})
		}
		return vdisk.NewSource(patternReader{pat}, size, ext)
	}
	writers := []vdisk.Writer{
		vdisk.Raw{}, vdisk.VHD{}, vdisk.QCOW2{}, vdisk.QCOW2{Compress: true},
		vdisk.VMDK{}, vdisk.GCE{}, vdisk.OVA{},
	}
	const (
		maxHeap = 32 << 20 // whatever the size
		// From 1 GiB to 256 GiB: a table of 8 bytes per 64 KiB of
		// virtual disk would add 32 MiB; the buffers in flight vary by
		// a few MiB with scheduling.
		maxGrowth = 6 << 20
	)
	for _, w := range writers {
		name := string(w.Format())
		if q, ok := w.(vdisk.QCOW2); ok && q.Compress {
			name += "-compressed"
		}
		t.Run(name, func(t *testing.T) {
			var peak [2]uint64
			for i, size := range []int64{1 << 30, 256 << 30} {
				src := source(size)
				var err error
				peak[i] = vdisktest.PeakHeap(func() { err = w.WriteDisk(context.Background(), &discard{}, src) })
				if err != nil {
					t.Fatalf("%d GiB: %v", size>>30, err)
				}
				t.Logf("%3d GiB disk, 24 MiB of data: peak heap %.1f MiB", size>>30, float64(peak[i])/(1<<20))
			}
			if peak[1] > maxHeap {
				t.Errorf("writing a 256 GiB disk peaked at a heap of %d MiB (bound %d MiB)", peak[1]>>20, maxHeap>>20)
			}
			if peak[1] > peak[0]+maxGrowth {
				t.Errorf("a 256 GiB disk needed %d KiB more heap than a 1 GiB one with the same data (bound %d KiB)", (peak[1]-peak[0])>>10, maxGrowth>>10)
			}
		})
	}
}
