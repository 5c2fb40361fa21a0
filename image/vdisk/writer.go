package vdisk

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// Format names a virtual-disk format; the names are vm's.
type Format = vm.DiskFormat

// Destination is where a [Writer] puts a disk: a file it writes front to
// back with Write, starting at offset 0, and may patch with WriteAt at
// offsets it has already written. Formats whose header depends on what
// follows (qcow2's tables, the tar header of an OVA's VMDK) write it last
// that way instead of reading the disk twice or holding it. An *os.File
// just created is a Destination; so is image.Export's hashing one.
type Destination interface {
	io.Writer
	io.WriterAt
}

// Writer encodes a raw disk into one virtual-disk format. It streams: it
// never holds the disk in memory and skips the holes that src reports.
// Writers whose format needs no patching are also [StreamWriter]s.
type Writer interface {
	Format() Format
	// WriteDisk writes src to dst, which is empty and at offset 0.
	WriteDisk(ctx context.Context, dst Destination, src Source) error
}

// StreamWriter is a [Writer] that writes its format strictly front to
// back, so it also writes to a plain io.Writer: a pipe, an upload, a hash.
// [Raw], [VHD], [VMDK] and [GCE] are StreamWriters; [QCOW2] and [OVA],
// which patch a header at the end, are not. For a StreamWriter, WriteDisk
// is StreamDisk.
type StreamWriter interface {
	Writer
	StreamDisk(ctx context.Context, dst io.Writer, src Source) error
}

// VirtualSizer is implemented by writers whose disk is larger than the
// source because the format or its cloud rounds the size up (VHD to 1 MiB,
// GCE to 1 GiB).
type VirtualSizer interface {
	VirtualSize(size int64) int64
}

// VirtualSize returns the size of the disk w writes for a source of size
// bytes.
func VirtualSize(w Writer, size int64) int64 {
	if v, ok := w.(VirtualSizer); ok {
		return v.VirtualSize(size)
	}
	return size
}

// HoleWriter is a destination that can skip a run of zeros without writing
// them, leaving a hole in a sparse file. WriteZeros(n) has the effect of
// writing n zero bytes. Writers use it for the holes a format stores as
// zeros (raw, VHD); image.Export's destination implements it.
type HoleWriter interface {
	io.Writer
	WriteZeros(n int64) error
}

// ForFormat returns the default writer for f; compress asks for the
// compressed variant where the format has one (qcow2). It is the one name
// lookup for command lines.
func ForFormat(f Format, compress bool) (Writer, error) {
	switch f {
	case vm.FormatRaw:
		return Raw{}, nil
	case vm.FormatQCOW2:
		return QCOW2{Compress: compress}, nil
	case vm.FormatVHD:
		return VHD{}, nil
	case vm.FormatVMDK:
		return VMDK{}, nil
	case vm.FormatGCE:
		return GCE{}, nil
	case vm.FormatOVA:
		return OVA{}, nil
	}
	return nil, fmt.Errorf("%w: %q (want one of %v)", ErrFormat, f, vm.DiskFormats())
}

// holeWriter returns dst as a HoleWriter: dst itself if it is one, a
// seeking writer if it is an *os.File, or one that writes zeros.
func holeWriter(dst io.Writer) HoleWriter {
	switch d := dst.(type) {
	case HoleWriter:
		return d
	case *os.File:
		return &fileHoles{f: d}
	}
	return zeroWriter{dst}
}

// holeChunk bounds one WriteZeros call. A destination may do work in
// proportion to a hole (image.Export's hashes the zeros it reads as, a
// plain io.Writer is sent them), so writers hand holes over in chunks and
// check their context between them: cancelling the export of a disk of
// terabytes of holes stops within one chunk.
const holeChunk = 64 << 20

// writeHole writes a hole of n bytes to h in chunks of holeChunk, and
// stops with ctx's error once ctx is done.
func writeHole(ctx context.Context, h HoleWriter, n int64) error {
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(n, holeChunk)
		if err := h.WriteZeros(k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

type zeroWriter struct{ io.Writer }

var zeros = make([]byte, 1<<20)

func (z zeroWriter) WriteZeros(n int64) error { return writeZeros(z.Writer, n) }

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// fileHoles writes to a file at its current offset and seeks over holes;
// the caller truncates the file to its final size (see finishHoles).
// Writeback starts as it goes (see writeBehind).
type fileHoles struct {
	f       *os.File
	pending int64
	off     int64 // where f stands, once known (known says)
	known   bool
	wb      writeBehind
}

func (h *fileHoles) Write(p []byte) (int, error) {
	if !h.known {
		off, err := h.f.Seek(h.pending, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		h.off, h.known, h.pending, h.wb.f = off, true, 0, h.f
	}
	if h.pending > 0 {
		if _, err := h.f.Seek(h.pending, io.SeekCurrent); err != nil {
			return 0, err
		}
		h.off += h.pending
		h.pending = 0
	}
	n, err := h.f.Write(p)
	h.wb.wrote(h.off, int64(n))
	h.off += int64(n)
	return n, err
}

func (h *fileHoles) WriteZeros(n int64) error { h.pending += n; return nil }

// finish extends the file over a trailing hole.
func (h *fileHoles) finish() error {
	if h.pending == 0 {
		return nil
	}
	off, err := h.f.Seek(h.pending, io.SeekCurrent)
	if err != nil {
		return err
	}
	h.pending = 0
	return h.f.Truncate(off)
}

// finishHoles completes a HoleWriter made by holeWriter.
func finishHoles(h HoleWriter) error {
	if f, ok := h.(*fileHoles); ok {
		return f.finish()
	}
	return nil
}

// counter starts progress reporting for a write.
func counter(r progress.Reporter, f Format, total int64) *progress.Counter {
	return progress.NewCounter(r, string(f), total)
}
