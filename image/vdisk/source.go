package vdisk

import (
	"fmt"
	"io"
	"os"

	"github.com/hardvm/hardvm/internal/sparse"
)

// Extent is a run of a source that may hold data; everything outside the
// extents of a [Source] reads as zeros.
type Extent = sparse.Extent

// Source is a raw disk to encode: its bytes, its size, and the extents that
// may hold data, in increasing order and not overlapping. Writers read only
// the extents and treat the rest as holes.
type Source interface {
	io.ReaderAt
	Size() int64
	Extents() []Extent
}

// FileSource is a raw disk file opened as a [Source]. Its extents come from
// SEEK_DATA/SEEK_HOLE, so a sparse file's holes are never read.
type FileSource struct {
	f    *os.File
	size int64
	ext  []Extent
}

// OpenFile opens the raw disk at path as a [Source]. Close it when done.
func OpenFile(path string) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vdisk: open source: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vdisk: open source: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrSource, path)
	}
	ext, err := sparse.Extents(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vdisk: extents of %s: %w", path, err)
	}
	return &FileSource{f: f, size: fi.Size(), ext: ext}, nil
}

// ReadAt reads from the file.
func (s *FileSource) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// Size returns the size of the file in bytes.
func (s *FileSource) Size() int64 { return s.size }

// Extents returns the data extents of the file.
func (s *FileSource) Extents() []Extent { return s.ext }

// Name returns the path the source was opened with.
func (s *FileSource) Name() string { return s.f.Name() }

// Close closes the file.
func (s *FileSource) Close() error { return s.f.Close() }

// NewSource returns a [Source] reading r, of size bytes, whose data lies in
// ext (normalized: sorted, merged, clipped to size). A nil ext means the
// whole of r may hold data.
func NewSource(r io.ReaderAt, size int64, ext []Extent) Source {
	if ext == nil {
		ext = []Extent{{Offset: 0, Length: size}}
	}
	return &source{r: r, size: size, ext: sparse.Normalize(ext, size)}
}

type source struct {
	r    io.ReaderAt
	size int64
	ext  []Extent
}

func (s *source) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off) }
func (s *source) Size() int64                             { return s.size }
func (s *source) Extents() []Extent                       { return s.ext }

// checkSource validates that src's extents are ordered and inside its size.
func checkSource(src Source) ([]Extent, error) {
	size := src.Size()
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrSource, size)
	}
	ext := src.Extents()
	var end int64
	for i, e := range ext {
		if e.Offset < end || e.Length < 0 || e.End() > size {
			return nil, fmt.Errorf("%w: extent %d [%d,+%d) is out of order or beyond size %d", ErrSource, i, e.Offset, e.Length, size)
		}
		end = e.End()
	}
	return ext, nil
}

// readFull reads len(p) bytes at off, treating a short read at the end of
// the source as zeros.
func readFull(src Source, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == io.EOF || err == nil {
		clear(p[n:])
		if off+int64(n) < src.Size() && err == io.EOF {
			return fmt.Errorf("vdisk: read source at %d: %w", off+int64(n), io.ErrUnexpectedEOF)
		}
		return nil
	}
	return fmt.Errorf("vdisk: read source at %d: %w", off+int64(n), err)
}

// blocks returns the indexes of the blocks of size bs that the extents
// touch, in order, calling fn for each run [first, last] of consecutive
// blocks.
func blockRuns(ext []Extent, bs int64, fn func(first, last int64) error) error {
	cur, curEnd := int64(-1), int64(-1)
	for _, e := range ext {
		if e.Length == 0 {
			continue
		}
		a, b := e.Offset/bs, (e.End()-1)/bs
		if cur >= 0 && a <= curEnd+1 {
			curEnd = max(curEnd, b)
			continue
		}
		if cur >= 0 {
			if err := fn(cur, curEnd); err != nil {
				return err
			}
		}
		cur, curEnd = a, b
	}
	if cur >= 0 {
		return fn(cur, curEnd)
	}
	return nil
}
