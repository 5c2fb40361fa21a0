package image

import "fmt"

// PathError is an error about one path of a [Rootfs], during an
// operation, possibly while installing a package. It unwraps to a sentinel
// (ErrUnsafePath, ErrEscape, ErrHardlink, ErrConflict, ErrTooLarge) or an
// fs error (fs.ErrNotExist, fs.ErrExist).
type PathError struct {
	Op      string // "write", "mkdir", "symlink", "link", "open", "remove", "install"
	Package string // the package being installed, "" outside installation
	Path    string
	Err     error
}

func (e *PathError) Error() string {
	if e.Package != "" {
		return fmt.Sprintf("image: %s %s (package %s): %v", e.Op, e.Path, e.Package, e.Err)
	}
	return fmt.Sprintf("image: %s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *PathError) Unwrap() error { return e.Err }
