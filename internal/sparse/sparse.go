// Package sparse finds the data extents of files (SEEK_DATA/SEEK_HOLE) so
// that writers skip holes, and writes holes back by seeking.
package sparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// Extent is a run of bytes that may hold data; everything between extents
// reads as zeros.
type Extent struct {
	Offset int64
	Length int64
}

// End returns the offset just past the extent.
func (e Extent) End() int64 { return e.Offset + e.Length }

// Extents returns the data extents of f, in order, covering [0, size). On a
// file system without SEEK_DATA it returns one extent covering the file.
func Extents(f *os.File) ([]Extent, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sparse: %w", err)
	}
	size := fi.Size()
	fd := int(f.Fd())
	var out []Extent
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				break // only a hole up to the end
			}
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
				return []Extent{{0, size}}, nil
			}
			return nil, fmt.Errorf("sparse: seek data in %s at %d: %w", f.Name(), off, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("sparse: seek hole in %s at %d: %w", f.Name(), data, err)
		}
		if hole > size {
			hole = size
		}
		if hole > data {
			out = append(out, Extent{data, hole - data})
		}
		off = hole
	}
	return out, nil
}

// Normalize sorts extents, merges overlapping or touching ones and clips
// them to [0, size).
func Normalize(ext []Extent, size int64) []Extent {
	e := append([]Extent(nil), ext...)
	sort.Slice(e, func(i, j int) bool { return e[i].Offset < e[j].Offset })
	var out []Extent
	for _, x := range e {
		if x.Offset < 0 {
			x.Length += x.Offset
			x.Offset = 0
		}
		if x.End() > size {
			x.Length = size - x.Offset
		}
		if x.Length <= 0 {
			continue
		}
		if n := len(out); n > 0 && x.Offset <= out[n-1].End() {
			if x.End() > out[n-1].End() {
				out[n-1].Length = x.End() - out[n-1].Offset
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// DataBytes returns the number of bytes the extents cover.
func DataBytes(ext []Extent) int64 {
	var n int64
	for _, e := range ext {
		n += e.Length
	}
	return n
}

// zeroPage is compared against with bytes.Equal, which is vectorised:
// several times faster than testing the bytes in Go.
var zeroPage [64 << 10]byte

// IsZero reports whether b holds only zero bytes.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// Writer writes to an io.WriteSeeker, seeking over blocks of zeros so that
// the file it writes stays sparse. Call Close (or Finish) to set the final
// size.
type Writer struct {
	w     io.WriteSeeker
	off   int64
	block int
}

// NewWriter returns a Writer that leaves holes for zero blocks of blockSize
// bytes (4096 if blockSize <= 0).
func NewWriter(w io.WriteSeeker, blockSize int) *Writer {
	if blockSize <= 0 {
		blockSize = 4096
	}
	return &Writer{w: w, block: blockSize}
}

// Write writes p, skipping whole zero blocks.
func (s *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), s.block)
		chunk := p[:k]
		if IsZero(chunk) {
			s.off += int64(k)
		} else {
			if _, err := s.w.Seek(s.off, io.SeekStart); err != nil {
				return n, err
			}
			w, err := s.w.Write(chunk)
			s.off += int64(w)
			n += w
			if err != nil {
				return n, err
			}
			p = p[k:]
			continue
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// Offset returns the current logical offset.
func (s *Writer) Offset() int64 { return s.off }

// Finish extends the file to the logical size, if it ends in a hole, using
// Truncate on an *os.File.
func (s *Writer) Finish() error {
	if f, ok := s.w.(*os.File); ok {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() < s.off {
			return f.Truncate(s.off)
		}
		return nil
	}
	return nil
}
