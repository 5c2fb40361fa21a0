package image

import (
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"time"
)

// fileInfo is the fs.FileInfo of a tree entry.
type fileInfo struct {
	name string
	n    *node
}

func (fi *fileInfo) Name() string { return fi.name }
func (fi *fileInfo) Size() int64 {
	switch {
	case fi.n.mode&fs.ModeSymlink != 0:
		return int64(len(fi.n.target))
	case fi.n.mode&fs.ModeDir != 0:
		return 0
	}
	return fi.n.size
}
func (fi *fileInfo) Mode() fs.FileMode  { return fi.n.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.n.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.n.mode&fs.ModeDir != 0 }

// Sys returns a *FileAttr: owners, xattrs, the inode shared by hardlinks
// and the owning package.
func (fi *fileInfo) Sys() any {
	a := &FileAttr{UID: fi.n.uid, GID: fi.n.gid, Xattrs: maps.Clone(fi.n.xattrs), Package: fi.n.pkg}
	if fi.n.mode&fs.ModeType == 0 && fi.n.nlink > 1 {
		a.Ino, a.Nlink = fi.n.ino, fi.n.nlink
	}
	return a
}

// Info returns fi (fs.DirEntry).
func (fi *fileInfo) Info() (fs.FileInfo, error) { return fi, nil }

// Type returns the type bits (fs.DirEntry).
func (fi *fileInfo) Type() fs.FileMode { return fi.n.mode.Type() }

func (fi *fileInfo) String() string { return fs.FormatFileInfo(fi) }

func (r *Rootfs) fsErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// get resolves name for the fs.FS methods.
func (r *Rootfs) get(op, name string, follow bool) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, r.fsErr(op, name, fs.ErrInvalid)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, r.fsErr(op, name, ErrClosed)
	}
	n, err := r.lookup(name, follow)
	if err != nil {
		return nil, r.fsErr(op, name, err)
	}
	return n, nil
}

// Open opens name, following symlinks inside the tree. Regular files read
// from the staging area and implement io.ReaderAt and io.Seeker;
// directories implement fs.ReadDirFile.
func (r *Rootfs) Open(name string) (fs.File, error) {
	n, err := r.get("open", name, true)
	if err != nil {
		return nil, err
	}
	fi := &fileInfo{name: path.Base(name), n: n}
	if n.mode&fs.ModeDir != 0 {
		return &dirFile{fi: fi, entries: r.dirEntries(n)}, nil
	}
	f, err := os.Open(r.blobPath(n.blob))
	if err != nil {
		return nil, r.fsErr("open", name, err)
	}
	return &regFile{File: f, fi: fi}, nil
}

// Stat returns the FileInfo of name, following symlinks.
func (r *Rootfs) Stat(name string) (fs.FileInfo, error) {
	n, err := r.get("stat", name, true)
	if err != nil {
		return nil, err
	}
	return &fileInfo{name: path.Base(name), n: n}, nil
}

// Lstat returns the FileInfo of name without following a final symlink.
func (r *Rootfs) Lstat(name string) (fs.FileInfo, error) {
	n, err := r.get("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return &fileInfo{name: path.Base(name), n: n}, nil
}

// ReadLink returns the target of the symlink name.
func (r *Rootfs) ReadLink(name string) (string, error) {
	n, err := r.get("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode&fs.ModeSymlink == 0 {
		return "", r.fsErr("readlink", name, fs.ErrInvalid)
	}
	return n.target, nil
}

// ReadDir returns the entries of directory name, sorted by name.
func (r *Rootfs) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := r.get("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode&fs.ModeDir == 0 {
		return nil, r.fsErr("readdir", name, fs.ErrInvalid)
	}
	return r.dirEntries(n), nil
}

func (r *Rootfs) dirEntries(n *node) []fs.DirEntry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := sortedNames(n)
	out := make([]fs.DirEntry, len(names))
	for i, c := range names {
		out[i] = &fileInfo{name: c, n: n.children[c]}
	}
	return out
}

// ReadFile returns the content of name (fs.ReadFileFS).
func (r *Rootfs) ReadFile(name string) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

type regFile struct {
	*os.File
	fi *fileInfo
}

func (f *regFile) Stat() (fs.FileInfo, error) { return f.fi, nil }

type dirFile struct {
	fi      *fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.fi.name, Err: fs.ErrInvalid}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}

var (
	_ fs.FS         = (*Rootfs)(nil)
	_ fs.StatFS     = (*Rootfs)(nil)
	_ fs.ReadDirFS  = (*Rootfs)(nil)
	_ fs.ReadLinkFS = (*Rootfs)(nil)
	_ fs.ReadFileFS = (*Rootfs)(nil)
)
