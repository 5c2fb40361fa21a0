package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// volume is a file system read directly from a block device: NoCloud and
// config drives are read without mounting them, so the image needs no
// isofs or vfat module and nothing on the volume is ever executed.
type volume interface {
	// label is the volume label (iso9660 volume identifier, FAT label).
	label() string
	// readFile returns the file at a slash-separated path, at most max
	// bytes; an absent file is an error wrapping fs.ErrNotExist.
	readFile(path string, max int64) ([]byte, error)
}

// Bounds of the volume parsers.
const (
	maxDirBytes = 1 << 20 // one directory
	maxDepth    = 8       // directory levels
)

// openVolume recognizes an iso9660 or FAT file system on r (size bytes).
func openVolume(r io.ReaderAt, size int64) (volume, error) {
	if v, err := openISO(r, size); err == nil {
		return v, nil
	} else if !errors.Is(err, errNotThisFS) {
		return nil, err
	}
	if v, err := openFAT(r, size); err == nil {
		return v, nil
	} else if !errors.Is(err, errNotThisFS) {
		return nil, err
	}
	return nil, errNotThisFS
}

// errNotThisFS: the device holds neither iso9660 nor FAT.
var errNotThisFS = errors.New("firstboot: not an iso9660 or FAT volume")

// readAt reads exactly n bytes at off.
func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: volume ends before byte %d", ErrMalformed, off+int64(n))
		}
		return nil, err
	}
	return b, nil
}

// splitPath splits a slash-separated relative path, refusing empty, "."
// and ".." elements and paths deeper than maxDepth.
func splitPath(p string) ([]string, error) {
	parts := strings.Split(p, "/")
	if len(parts) > maxDepth {
		return nil, fmt.Errorf("%w: path %q too deep", ErrMalformed, p)
	}
	for _, e := range parts {
		if e == "" || e == "." || e == ".." {
			return nil, fmt.Errorf("%w: path %q", ErrMalformed, p)
		}
	}
	return parts, nil
}

func notExist(p string) error { return fmt.Errorf("%s: %w", p, fs.ErrNotExist) }
