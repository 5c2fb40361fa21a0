package erofs

import (
	"errors"
	"fmt"
)

// Sentinel errors of package erofs.
var (
	// ErrXattrName reports an extended attribute whose name has no EROFS
	// prefix index (user., trusted., security., system.posix_acl_*).
	ErrXattrName = errors.New("erofs: unsupported xattr name")
	// ErrXattrTooLarge reports an xattr name or value beyond EROFS limits.
	ErrXattrTooLarge = errors.New("erofs: xattr too large")
	// ErrFileType reports an entry whose type EROFS cannot store.
	ErrFileType = errors.New("erofs: unsupported file type")
	// ErrSizeChanged reports a file whose content length differs from the
	// size its FileInfo announced.
	ErrSizeChanged = errors.New("erofs: file size changed while reading")
	// ErrTooLarge reports an image beyond the 32-bit block address space
	// or a tree beyond the inode limits of the format.
	ErrTooLarge = errors.New("erofs: image too large")
	// ErrNoRoot reports a source whose root is not a directory.
	ErrNoRoot = errors.New("erofs: source root is not a directory")
	// ErrCorrupt reports an image [Open] or a read refused: a bad magic or
	// checksum, a field out of bounds, a directory or inode that
	// contradicts the format.
	ErrCorrupt = errors.New("erofs: corrupt image")
	// ErrUnsupported reports a valid image that uses what the reader does
	// not read (compression, chunk-based files, incompatible features,
	// block sizes other than 4 KiB). It wraps errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("erofs: %w", errors.ErrUnsupported)
)

// PathError records the path of the entry a write failed on.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return fmt.Sprintf("erofs: %s: %v", e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }
