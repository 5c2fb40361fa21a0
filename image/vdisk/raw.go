package vdisk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// Raw writes the disk as it is. Holes stay holes: when dst is an *os.File
// or a [HoleWriter], the writer seeks over them instead of writing zeros.
type Raw struct {
	// Progress, if set, receives the source bytes copied.
	Progress progress.Reporter
}

// Format returns vm.FormatRaw.
func (Raw) Format() Format { return vm.FormatRaw }

// rawChunk is the unit of copying: large enough for the page cache to
// stream, small enough to notice cancellation quickly.
const rawChunk = 1 << 20

// WriteDisk is StreamDisk: the format needs no patching.
func (w Raw) WriteDisk(ctx context.Context, dst Destination, src Source) error {
	return w.StreamDisk(ctx, dst, src)
}

// StreamDisk copies src's extents to dst and leaves holes between them.
func (w Raw) StreamDisk(ctx context.Context, dst io.Writer, src Source) error {
	ext, err := checkSource(src)
	if err != nil {
		return err
	}
	c := counter(w.Progress, vm.FormatRaw, dataBytes(ext))
	if df, ok := dst.(*os.File); ok {
		if sf, ok := src.(*FileSource); ok {
			if done, err := copyFileRange(ctx, df, sf, ext, c.Add); done || err != nil {
				if err != nil {
					return fmt.Errorf("vdisk: raw: %w", err)
				}
				c.Done()
				return nil
			}
		}
	}
	h := holeWriter(dst)
	if err := copyExtents(ctx, h, src, ext, 0, src.Size(), c.Add, nil); err != nil {
		return fmt.Errorf("vdisk: raw: %w", err)
	}
	if err := finishHoles(h); err != nil {
		return fmt.Errorf("vdisk: raw: %w", err)
	}
	c.Done()
	return nil
}

// copyExtents writes the bytes [0, end) of src to h: extents as data, the
// rest as zeros (holes), reading ahead on a second goroutine so that reads
// and writes overlap. from is where h stands in the source. tap, if not
// nil, sees every chunk of data written, in order.
func copyExtents(ctx context.Context, h HoleWriter, src Source, ext []Extent, from, end int64, add func(int64), tap func(off int64, b []byte)) error {
	type piece struct {
		off int64
		buf []byte
	}
	bufs := newPool(rawChunk, 4)
	pos := from
	err := ordered(ctx, 1,
		func(ctx context.Context, send func(piece) error) error {
			for _, e := range ext {
				for off := e.Offset; off < e.End(); off += rawChunk {
					if err := ctx.Err(); err != nil {
						return err
					}
					b := bufs.get()[:min(rawChunk, e.End()-off)]
					if err := readFull(src, b, off); err != nil {
						return err
					}
					if err := send(piece{off, b}); err != nil {
						return err
					}
				}
			}
			return nil
		},
		func(*piece) error { return nil },
		func(p *piece) error {
			if p.off > pos {
				if err := writeHole(ctx, h, p.off-pos); err != nil {
					return err
				}
			}
			if sparse.IsZero(p.buf) {
				if err := h.WriteZeros(int64(len(p.buf))); err != nil {
					return err
				}
			} else {
				if tap != nil {
					tap(p.off, p.buf)
				}
				if _, err := h.Write(p.buf); err != nil {
					return err
				}
			}
			pos = p.off + int64(len(p.buf))
			add(int64(len(p.buf)))
			bufs.put(p.buf)
			return nil
		})
	if err != nil {
		return err
	}
	return writeHole(ctx, h, end-pos)
}

func dataBytes(ext []Extent) int64 {
	var n int64
	for _, e := range ext {
		n += e.Length
	}
	return n
}

// copyFileRange copies the extents of a file to the same offsets of dst,
// a file at offset 0, in the kernel (copy_file_range), and sets dst's size.
// Writeback of what it copied starts as it goes (writeBehind).
// It reports false, having copied nothing, where the kernel cannot do it
// (another file system, an old kernel), and the caller copies by hand.
func copyFileRange(ctx context.Context, dst *os.File, src *FileSource, ext []Extent, add func(int64)) (bool, error) {
	if pos, err := dst.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		return false, nil
	}
	first := true
	wb := writeBehind{f: dst}
	for _, e := range ext {
		for off := e.Offset; off < e.End(); {
			if err := ctx.Err(); err != nil {
				return true, err
			}
			roff, woff := off, off
			n, err := unix.CopyFileRange(int(src.f.Fd()), &roff, int(dst.Fd()), &woff, int(min(e.End()-off, writeBehindChunk)), 0)
			if err != nil || n == 0 {
				if first && (err == nil || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
					return false, nil
				}
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return true, fmt.Errorf("copy_file_range at %d: %w", off, err)
			}
			first = false
			wb.wrote(off, int64(n))
			off += int64(n)
			add(int64(n))
		}
	}
	return true, dst.Truncate(src.Size())
}

// writeBehindChunk is how much a writer copies into a file before it asks
// the kernel to start writing it back.
const writeBehindChunk = 8 << 20

// writeBehind starts the writeback of what a writer wrote to a file as it
// goes (sync_file_range SYNC_FILE_RANGE_WRITE: it starts the I/O and does
// not wait for it), so that the disk writes while the next chunks are
// copied and the fsync that makes the output durable (atomicfile's commit)
// finds little left to do. Without it the page cache holds the whole
// output dirty and the disk starts only at the fsync: copy, then write,
// one after the other. The outputs of the writers are artifacts that are
// kept, so the early I/O is I/O that would happen anyway.
type writeBehind struct {
	f          *os.File
	start, end int64 // the written range not yet handed to writeback
}

// wrote records that [off, off+n) was written, and starts the writeback of
// the range written so far once it reaches writeBehindChunk. Errors are
// ignored: it only schedules I/O early, and the fsync reports them.
func (w *writeBehind) wrote(off, n int64) {
	if n <= 0 {
		return
	}
	if w.end != w.start && off != w.end {
		w.flush() // not contiguous: hand over what came before
	}
	if w.end == w.start {
		w.start = off
	}
	w.end = off + n
	if w.end-w.start >= writeBehindChunk {
		w.flush()
	}
}

func (w *writeBehind) flush() {
	if w.end > w.start {
		_ = unix.SyncFileRange(int(w.f.Fd()), w.start, w.end-w.start, unix.SYNC_FILE_RANGE_WRITE)
	}
	w.start = w.end
}
