package vdisk

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// GCE writes the archive Compute Engine imports: one file, disk.raw, in a
// gzip'd tar, its size rounded up to a whole GiB, stored as an old GNU
// sparse member so that holes take no space in the tar. The gzip stream is
// deflated on every core in independent blocks (as pigz does) and read by
// any gunzip. Header fields are fixed (mode 0644, owner 0:0, mtime from
// SourceDateEpoch), so the archive depends only on the disk.
type GCE struct {
	// SourceDateEpoch is the member's modification time, in Unix seconds.
	SourceDateEpoch int64
	// Level is the deflate level 1-9; 0 means 1 (fastest).
	Level int
	// Workers is the number of compressing goroutines; 0 means GOMAXPROCS.
	Workers int
	// Progress, if set, receives the source bytes done.
	Progress progress.Reporter
}

// Format returns vm.FormatGCE.
func (GCE) Format() Format { return vm.FormatGCE }

// VirtualSize rounds size up to a whole GiB, as Compute Engine requires.
func (GCE) VirtualSize(size int64) int64 { return (size + vm.GiB - 1) / vm.GiB * vm.GiB }

// WriteDisk is StreamDisk: the format needs no patching.
func (w GCE) WriteDisk(ctx context.Context, dst Destination, src Source) error {
	return w.StreamDisk(ctx, dst, src)
}

// StreamDisk writes src as disk.raw in a gzip'd sparse tar to dst.
func (w GCE) StreamDisk(ctx context.Context, dst io.Writer, src Source) error {
	level := w.Level
	if level == 0 {
		level = 1
	}
	if level < 1 || level > 9 {
		return fmt.Errorf("%w: gce deflate level %d (want 1-9)", ErrOption, w.Level)
	}
	ext, err := checkSource(src)
	if err != nil {
		return err
	}
	realSize := w.VirtualSize(src.Size())
	entries := sparseMap(ext, src.Size(), realSize)
	hdrs, err := gnuSparseHeaders("disk.raw", entries, realSize, w.SourceDateEpoch)
	if err != nil {
		return err
	}
	c := counter(w.Progress, vm.FormatGCE, dataBytes(ext))
	bw := bufio.NewWriterSize(dst, 1<<20)
	err = parallelGzip(ctx, bw, level, w.Workers, func(ctx context.Context, b *blockWriter) error {
		if _, err := b.Write(hdrs); err != nil {
			return err
		}
		var stored int64
		for _, e := range entries {
			// An entry rounded up past the source's end reads as zeros.
			have := max(0, min(e.Length, src.Size()-e.Offset))
			if err := b.readFrom(ctx, src, e.Offset, have); err != nil {
				return err
			}
			if pad := e.Length - have; pad > 0 {
				if _, err := b.Write(make([]byte, pad)); err != nil {
					return err
				}
			}
			stored += e.Length
			c.Add(e.Length)
		}
		// Pad the member to a block, end the archive with two zero blocks
		// and fill the last 10 KiB record, as GNU tar does.
		n := int64(len(hdrs)) + (stored+511)/512*512 + 1024
		end := (stored+511)/512*512 - stored + 1024 + (10240-n%10240)%10240
		_, err := b.Write(make([]byte, end))
		return err
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("vdisk: gce: %w", err)
	}
	c.Done()
	return nil
}

// sparseMap returns the data regions of the tar member: the extents
// widened to 512-byte boundaries and merged, and, if the file ends in a
// hole, a last empty entry at the real size (as GNU tar writes).
func sparseMap(ext []Extent, size, realSize int64) []Extent {
	var out []Extent
	for _, e := range ext {
		if e.Length == 0 {
			continue
		}
		a := e.Offset / 512 * 512
		b := min((e.End()+511)/512*512, realSize)
		if n := len(out); n > 0 && a <= out[n-1].End() {
			out[n-1].Length = max(out[n-1].End(), b) - out[n-1].Offset
			continue
		}
		out = append(out, Extent{Offset: a, Length: b - a})
	}
	if n := len(out); n == 0 || out[n-1].End() < realSize {
		out = append(out, Extent{Offset: realSize, Length: 0})
	}
	return out
}

// gnuSparseHeaders returns the old GNU sparse header of a member, with as
// many extension blocks as its map needs.
func gnuSparseHeaders(name string, entries []Extent, realSize, mtime int64) ([]byte, error) {
	var stored int64
	for _, e := range entries {
		stored += e.Length
	}
	nblocks := 1
	if len(entries) > 4 {
		nblocks += (len(entries) - 4 + 20) / 21
	}
	b := make([]byte, 512*nblocks)
	h := b[:512]
	copy(h[0:100], name)
	putOctal(h[100:108], 0o644)
	putOctal(h[108:116], 0)
	putOctal(h[116:124], 0)
	putNumeric(h[124:136], stored)
	putNumeric(h[136:148], max(mtime, 0))
	h[156] = 'S'
	copy(h[257:265], "ustar  \x00")
	putNumeric(h[483:495], realSize)
	put := func(slot []byte, e Extent) {
		putNumeric(slot[0:12], e.Offset)
		putNumeric(slot[12:24], e.Length)
	}
	for i := 0; i < len(entries) && i < 4; i++ {
		put(h[386+24*i:], entries[i])
	}
	if len(entries) > 4 {
		h[482] = 1
	}
	rest := entries[min(4, len(entries)):]
	for blk := 1; blk < nblocks; blk++ {
		x := b[512*blk : 512*(blk+1)]
		for i := 0; i < 21 && len(rest) > 0; i++ {
			put(x[24*i:], rest[0])
			rest = rest[1:]
		}
		if len(rest) > 0 {
			x[504] = 1
		}
	}
	// The checksum covers the first block with its own field as spaces.
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b, nil
}

func putOctal(f []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	for len(s) < len(f)-1 {
		s = "0" + s
	}
	copy(f, s)
	f[len(f)-1] = 0
}

// putNumeric writes v in octal if it fits, else in GNU base-256.
func putNumeric(f []byte, v int64) {
	if v < 1<<(3*(len(f)-1)) {
		putOctal(f, v)
		return
	}
	for i := len(f) - 1; i > 0; i-- {
		f[i] = byte(v)
		v >>= 8
	}
	f[0] = 0x80
}
