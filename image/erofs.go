package image

import (
	"io/fs"

	"github.com/hardvm/hardvm/image/erofs"
)

// ErofsAttr gives the erofs writer what a [Rootfs] entry's FileInfo.Sys
// carries: owners, xattrs and the inode that groups hardlinks. Entries of
// other file systems fall back to [erofs.StatAttr] (root:root unless Sys is
// a *syscall.Stat_t). Pass it with erofs.WithAttr to write any fs.FS whose
// entries carry a *FileAttr.
func ErofsAttr(name string, fi fs.FileInfo) (erofs.Attr, error) {
	a, ok := fi.Sys().(*FileAttr)
	if !ok || a == nil {
		return erofs.StatAttr(name, fi)
	}
	return erofs.Attr{UID: a.UID, GID: a.GID, Xattrs: a.Xattrs, Ino: a.Ino}, nil
}
