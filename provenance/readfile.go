package provenance

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxKeyFileSize bounds a PEM key file: a P-384 or RSA-4096 key with its
// headers is a few KiB.
const maxKeyFileSize = 64 << 10

// ReadDocumentFile reads an untrusted document file (a bundle, statement,
// SBOM, lock or report) of at most [MaxDocumentSize] bytes. The size is
// checked on the open file before anything is read: a larger file, or one
// that is not a regular file (a FIFO or device could feed bytes for ever),
// is refused with a *DocumentError wrapping ErrTooLarge or ErrMalformed,
// and a file that grows while it is read is still cut at the bound.
func ReadDocumentFile(path string) ([]byte, error) {
	return readFileLimited("file", path, int64(maxDocumentSize))
}

// readFileLimited reads path, refusing before the first read a non-regular
// file or one of more than limit bytes.
func readFileLimited(kind, path string, limit int64) ([]byte, error) {
	name := filepath.Base(path)
	check := func(fi os.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return &DocumentError{Kind: kind, Name: name, Err: fmt.Errorf("%w: not a regular file (%s)", ErrMalformed, fi.Mode().Type())}
		}
		if fi.Size() > limit {
			return &DocumentError{Kind: kind, Name: name, Err: fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, fi.Size(), limit)}
		}
		return nil
	}
	// Stat before opening: opening a FIFO would block until a writer
	// comes; then again on the open file, which is the one read.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := check(fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &DocumentError{Kind: kind, Name: name, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, &DocumentError{Kind: kind, Name: name, Err: fmt.Errorf("%w: grew past %d bytes while read", ErrTooLarge, limit)}
	}
	return b, nil
}
