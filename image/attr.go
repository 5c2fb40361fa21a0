package image

// FileAttr is what the FileInfo.Sys method of a [Rootfs] entry returns: the
// ownership and extended attributes an image records exactly, whatever the
// user that builds it. Consumers of any fs.FS (erofs, tar writers) use it
// when present and default to root:root without xattrs otherwise.
type FileAttr struct {
	UID, GID uint32
	Xattrs   map[string]string // name -> raw value
	// Ino identifies the file's inode within the tree: hardlinked names
	// share it. Zero means "not a hardlink".
	Ino   uint64
	Nlink uint32
	// Package is the APK that owns the file ("" for files the build made).
	Package string
}
