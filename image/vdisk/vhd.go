package vdisk

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// VHD writes fixed-size Virtual Hard Disk images, as Azure imports them:
// the disk, its size rounded up to a whole MiB, then a 512-byte footer.
// Holes stay holes when dst is an *os.File or a [HoleWriter].
//
// The footer's fields come from the inputs, never the clock: the time stamp
// from SourceDateEpoch, the unique ID from Seed (or, without a seed, from a
// checksum of the size and the data, computed while copying), the CHS
// geometry from the size as the VHD specification computes it.
type VHD struct {
	// Seed, if set, derives the footer's unique ID.
	Seed string
	// SourceDateEpoch is the footer's time stamp, in Unix seconds; times
	// before 2000-01-01 (the VHD epoch), and 0, are written as 0.
	SourceDateEpoch int64
	// Progress, if set, receives the source bytes copied.
	Progress progress.Reporter
}

// Format returns vm.FormatVHD.
func (VHD) Format() Format { return vm.FormatVHD }

// VirtualSize rounds size up to a whole MiB, as Azure requires.
func (VHD) VirtualSize(size int64) int64 { return (size + vm.MiB - 1) / vm.MiB * vm.MiB }

const (
	vhdFooterSize = 512
	vhdEpoch      = 946684800 // 2000-01-01T00:00:00Z in Unix seconds
	vhdMaxSize    = 2040 << 30
)

// WriteDisk is StreamDisk: the format needs no patching.
func (w VHD) WriteDisk(ctx context.Context, dst Destination, src Source) error {
	return w.StreamDisk(ctx, dst, src)
}

// StreamDisk writes src as a fixed VHD to dst.
func (w VHD) StreamDisk(ctx context.Context, dst io.Writer, src Source) error {
	ext, err := checkSource(src)
	if err != nil {
		return err
	}
	vsize := w.VirtualSize(src.Size())
	if vsize > vhdMaxSize {
		return fmt.Errorf("%w: vhd of %d bytes is larger than the 2040 GiB a VHD can hold", ErrOption, vsize)
	}
	c := counter(w.Progress, vm.FormatVHD, dataBytes(ext))
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	// Fast path: file to file, the data copied in the kernel
	// (copy_file_range) while a second core reads it from the page cache
	// for the UUID.
	if df, ok := dst.(*os.File); ok {
		if sf, ok := src.(*FileSource); ok {
			var g errgroup.Group
			cctx, cancel := context.WithCancel(ctx)
			if w.Seed == "" {
				g.Go(func() error { return crcExtents(cctx, src, ext, crc) })
			}
			done, err := copyFileRange(ctx, df, sf, ext, c.Add)
			if !done || err != nil {
				cancel()
			}
			crcErr := g.Wait()
			cancel()
			if err != nil {
				return fmt.Errorf("vdisk: vhd: %w", err)
			}
			if done {
				if crcErr != nil {
					return fmt.Errorf("vdisk: vhd: %w", crcErr)
				}
				if _, err := df.WriteAt(vhdFooter(vsize, w.SourceDateEpoch, w.uuid(vsize, crc.Sum32())), vsize); err != nil {
					return fmt.Errorf("vdisk: vhd: footer: %w", err)
				}
				if _, err := df.Seek(vsize+vhdFooterSize, io.SeekStart); err != nil {
					return fmt.Errorf("vdisk: vhd: %w", err)
				}
				c.Done()
				return nil
			}
		}
	}
	h := holeWriter(dst)
	var tap func(int64, []byte)
	crc.Reset() // the fast path may have begun
	if w.Seed == "" {
		tap = func(off int64, b []byte) {
			var o [8]byte
			binary.BigEndian.PutUint64(o[:], uint64(off))
			crc.Write(o[:])
			crc.Write(b)
		}
	}
	if err := copyExtents(ctx, h, src, ext, 0, vsize, c.Add, tap); err != nil {
		return fmt.Errorf("vdisk: vhd: %w", err)
	}
	if _, err := h.Write(vhdFooter(vsize, w.SourceDateEpoch, w.uuid(vsize, crc.Sum32()))); err != nil {
		return fmt.Errorf("vdisk: vhd: footer: %w", err)
	}
	if err := finishHoles(h); err != nil {
		return fmt.Errorf("vdisk: vhd: %w", err)
	}
	c.Done()
	return nil
}

// vhdFooter builds the footer of a fixed disk of size bytes.
func vhdFooter(size, epoch int64, uuid [16]byte) []byte {
	f := make([]byte, vhdFooterSize)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)           // features: reserved bit, always set
	be.PutUint32(f[12:], 0x00010000) // file format version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none for a fixed disk
	var ts uint32
	if epoch > vhdEpoch && epoch-vhdEpoch <= 0xffffffff {
		ts = uint32(epoch - vhdEpoch)
	}
	be.PutUint32(f[24:], ts)
	// Creator "win " (as Hyper-V writes): readers such as qemu then take
	// the size from the footer rather than from the CHS geometry, which
	// cannot express most sizes exactly.
	copy(f[28:], "win ")             // creator application
	be.PutUint32(f[32:], 0x00010000) // creator version
	copy(f[36:], "Wi2k")             // creator host OS
	be.PutUint64(f[40:], uint64(size))
	be.PutUint64(f[48:], uint64(size))
	c, h, s := vhdGeometry(size)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 2) // disk type: fixed
	copy(f[68:], uuid[:])
	be.PutUint32(f[64:], vhdChecksum(f))
	return f
}

// vhdChecksum is the one's complement of the sum of the footer's bytes,
// without the checksum field.
func vhdChecksum(f []byte) uint32 {
	var sum uint32
	for i, b := range f {
		if i >= 64 && i < 68 {
			continue
		}
		sum += uint32(b)
	}
	return ^sum
}

// vhdGeometry is the CHS algorithm of the VHD specification (appendix
// "CHS calculation").
func vhdGeometry(size int64) (cyl uint16, heads, spt uint8) {
	total := size / 512
	if total > 65535*16*255 {
		total = 65535 * 16 * 255
	}
	var s, h, cth int64
	if total >= 65535*16*63 {
		s, h = 255, 16
		cth = total / s
	} else {
		s = 17
		cth = total / s
		h = (cth + 1023) / 1024
		if h < 4 {
			h = 4
		}
		if cth >= h*1024 || h > 16 {
			s, h = 31, 16
			cth = total / s
		}
		if cth >= h*1024 {
			s, h = 63, 16
			cth = total / s
		}
	}
	return uint16(cth / h), uint8(h), uint8(s)
}

// uuid derives the footer's unique id from the inputs: the seed, or the
// CRC-32C of the data chunks (crcExtents) when there is none.
func (w VHD) uuid(vsize int64, crc uint32) [16]byte {
	id := sha256.New()
	fmt.Fprintf(id, "hardvm/vhd\x00%d\x00", vsize)
	if w.Seed != "" {
		fmt.Fprintf(id, "seed\x00%s", w.Seed)
	} else {
		fmt.Fprintf(id, "crc32c\x00%08x", crc)
	}
	var uuid [16]byte
	copy(uuid[:], id.Sum(nil))
	uuid[6] = uuid[6]&0x0f | 0x50 // name-based (version 5 style)
	uuid[8] = uuid[8]&0x3f | 0x80 // RFC 4122 variant
	return uuid
}

// crcExtents feeds h what copyExtents's tap sees: each non-zero chunk of
// the extents, in order, prefixed by its offset.
func crcExtents(ctx context.Context, src Source, ext []Extent, h hash.Hash32) error {
	buf := make([]byte, rawChunk)
	for _, e := range ext {
		for off := e.Offset; off < e.End(); off += rawChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := buf[:min(rawChunk, e.End()-off)]
			if err := readFull(src, b, off); err != nil {
				return err
			}
			if sparse.IsZero(b) {
				continue
			}
			var o [8]byte
			binary.BigEndian.PutUint64(o[:], uint64(off))
			h.Write(o[:])
			h.Write(b)
		}
	}
	return nil
}
