package verity

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hardvm/hardvm/internal/sparse"
)

// Hashing from the page cache through a mapping instead of copying the data
// into a buffer with pread saves the copy, about a tenth of the CPU time of
// a format. Each job maps its own window and unmaps it when done, so the
// resident set stays a few windows, not the data.

// mappable returns the regular file under data, and where data starts in it,
// if the file holds all size bytes of data now; nil otherwise.
func mappable(data io.ReaderAt, size int64) (*os.File, int64) {
	var base int64
	if s, ok := data.(*io.SectionReader); ok {
		outer, off, n := s.Outer()
		if n < size {
			return nil, 0
		}
		data, base = outer, off
	}
	f, ok := data.(*os.File)
	if !ok {
		return nil, 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size()-base < size || size <= 0 {
		return nil, 0
	}
	return f, base
}

// mapReader views a job's data through one read-only shared mapping of the
// whole data, made once for all workers; releasing a view drops its pages
// from the mapping (the page cache keeps them), which does not stop the
// other workers' page faults the way unmapping a window per job did.
type mapReader struct {
	m     []byte // the mapping, from a page boundary
	delta int64  // where data starts in m
}

var pageSize = int64(os.Getpagesize())

// newMapReader maps the size bytes of f at base.
func newMapReader(f *os.File, base, size int64) (*mapReader, error) {
	start := base &^ (pageSize - 1)
	m, err := unix.Mmap(int(f.Fd()), start, int(base-start+size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("verity: data: map %d bytes: %w", size, err)
	}
	return &mapReader{m: m, delta: base - start}, nil
}

func (r *mapReader) close() error { return unix.Munmap(r.m) }

// pages returns the whole pages of m around [off, off+size) of data.
func (r *mapReader) pages(off, size int64) []byte {
	lo := (r.delta + off) &^ (pageSize - 1)
	hi := min(int64(len(r.m)), (r.delta+off+size+pageSize-1)&^(pageSize-1))
	return r.m[lo:hi]
}

// view faults the pages in as it hashes them (prefaulting them with
// MADV_POPULATE_READ measured slower); release drops them from the mapping.
func (r *mapReader) view(off, size int64, _ []sparse.Extent) ([]byte, func(), error) {
	return r.m[r.delta+off : r.delta+off+size], func() { _ = unix.Madvise(r.pages(off, size), unix.MADV_DONTNEED) }, nil
}

// catchFault turns the fault of reading a mapping past the end of a file
// that shrank while it was hashed into an error; other panics go on. The
// goroutine must run with debug.SetPanicOnFault(true).
func catchFault(err *error, off int64) {
	r := recover()
	if r == nil {
		return
	}
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		*err = fmt.Errorf("%w: data: the file changed size while it was hashed (fault reading the job at offset %d, address %#x)", ErrShortRead, off, f.Addr())
		return
	}
	panic(r)
}
