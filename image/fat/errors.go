package fat

import (
	"errors"
	"fmt"
)

// Sentinel errors of package fat.
var (
	// ErrTooSmall reports a volume too small for FAT32 (fewer than 65525
	// clusters) or for the files given.
	ErrTooSmall = errors.New("fat: volume too small")
	// ErrTooLarge reports a volume or file beyond FAT32 limits.
	ErrTooLarge = errors.New("fat: too large for FAT32")
	// ErrName reports a file name FAT cannot store, or two names that
	// differ only in case.
	ErrName = errors.New("fat: invalid file name")
	// ErrFileType reports an entry that is neither a regular file nor a
	// directory.
	ErrFileType = errors.New("fat: unsupported file type")
	// ErrSizeChanged reports a file whose content length differs from
	// the size its FileInfo announced.
	ErrSizeChanged = errors.New("fat: file size changed while reading")
)

// PathError records the path of the entry a write failed on.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return fmt.Sprintf("fat: %s: %v", e.Path, e.Err) }

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }
