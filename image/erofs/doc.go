// Package erofs writes read-only EROFS file system images from any fs.FS.
//
// The writer is our own rather than github.com/erofs/go-erofs v0.3.1's
// Writer, which stores every hardlinked name as a separate inode, reads
// ownership and xattrs only from its own internal Sys() type, keeps one
// open file per regular file until Close, and leaves the volume UUID zero.
// go-erofs's reader remains our independent read-back check in tests,
// beside fsck.erofs and dump.erofs from erofs-utils.
//
// Images are uncompressed, use 4 KiB blocks and 64-byte extended inodes
// (exact 32-bit owners, mtime and link counts), keep small tails of files,
// directories and symlinks inline after their inode, and carry a superblock
// checksum. Layout is planned from the tree before any data is read: inodes
// first in walk order, then file data in the same order. Write streams file
// contents from the fs.FS with a few workers in parallel, each writing its
// own planned blocks, and leaves all-zero blocks unwritten so they stay
// holes. The same tree, options and epoch give the same bytes.
package erofs
