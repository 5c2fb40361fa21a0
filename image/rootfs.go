package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Rootfs is a root file system tree held in memory, with file content in a
// content-addressed staging directory on disk (never in memory). Ownership,
// modes (setuid, setgid and sticky included), symlinks, hardlinks and
// xattrs are exact whatever user builds it. Paths resolve inside the tree,
// following the tree's own symlinks (merged /usr), never the host's; a
// path that would climb out of the root fails with [ErrEscape].
//
// Rootfs implements fs.FS, fs.StatFS, fs.ReadDirFS and fs.ReadLinkFS; the
// FileInfo.Sys of every entry is a *[FileAttr]. It is safe for concurrent
// use. Close removes the staged content.
type Rootfs struct {
	mu      sync.RWMutex
	staging string // this tree's own directory inside the caller's
	root    *node
	nextIno uint64
	total   int64 // bytes of regular files, each inode once
	entries int
	closed  bool
	opt     rootfsOptions
}

type node struct {
	mode     fs.FileMode // type and permission bits, Go style (fs.ModeSetuid…)
	uid, gid uint32
	xattrs   map[string]string
	pkg      string
	mtime    time.Time
	children map[string]*node // directories
	target   string           // symlinks
	blob     string           // regular files: hex SHA-256 of the content
	size     int64
	nlink    uint32 // names of a regular file (hardlinks)
	ino      uint64 // set once the file has a second name
}

// RootfsOption configures a Rootfs.
type RootfsOption func(*rootfsOptions) error

type rootfsOptions struct {
	maxFileSize  int64
	maxTotalSize int64
	maxEntries   int
	mtime        time.Time
}

// WithMaxFileSize bounds the size of one file (default 4 GiB).
func WithMaxFileSize(n int64) RootfsOption {
	return func(o *rootfsOptions) error {
		if n <= 0 {
			return fmt.Errorf("image: max file size %d must be positive", n)
		}
		o.maxFileSize = n
		return nil
	}
}

// WithMaxTotalSize bounds the total size of regular files (default 64 GiB).
func WithMaxTotalSize(n int64) RootfsOption {
	return func(o *rootfsOptions) error {
		if n <= 0 {
			return fmt.Errorf("image: max total size %d must be positive", n)
		}
		o.maxTotalSize = n
		return nil
	}
}

// WithMaxEntries bounds the number of entries (default 4 Mi).
func WithMaxEntries(n int) RootfsOption {
	return func(o *rootfsOptions) error {
		if n <= 0 {
			return fmt.Errorf("image: max entries %d must be positive", n)
		}
		o.maxEntries = n
		return nil
	}
}

// WithModTime sets the modification time of entries the tree creates by
// itself (the root, MkdirAll parents) and of entries written without one;
// default the Unix epoch.
func WithModTime(t time.Time) RootfsOption {
	return func(o *rootfsOptions) error { o.mtime = t.UTC(); return nil }
}

// Limits on names, as Linux has them.
const (
	maxNameLen = 255
	maxPathLen = 4095
	maxLinks   = 40 // symlinks followed in one resolution
)

// NewRootfs returns an empty tree (a root directory 0755 root:root) whose
// content is staged in a new directory inside stagingDir.
func NewRootfs(stagingDir string, opts ...RootfsOption) (*Rootfs, error) {
	o := rootfsOptions{maxFileSize: 4 << 30, maxTotalSize: 64 << 30, maxEntries: 4 << 20, mtime: time.Unix(0, 0).UTC()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(stagingDir, 0o755); err != nil {
		return nil, fmt.Errorf("image: staging: %w", err)
	}
	dir, err := os.MkdirTemp(stagingDir, "rootfs-")
	if err != nil {
		return nil, fmt.Errorf("image: staging: %w", err)
	}
	return &Rootfs{
		staging: dir,
		root:    &node{mode: fs.ModeDir | 0o755, children: map[string]*node{}, mtime: o.mtime},
		opt:     o,
	}, nil
}

// Close removes the staged content. The tree is unusable afterwards.
func (r *Rootfs) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.root = &node{mode: fs.ModeDir | 0o755, children: map[string]*node{}}
	return os.RemoveAll(r.staging)
}

// cleanName turns a caller's name ("/etc/passwd", "etc/passwd") into an
// fs.ValidPath, or fails with ErrUnsafePath.
func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	if n == "" {
		return ".", nil
	}
	if err := checkName(n); err != nil {
		return "", err
	}
	return n, nil
}

// checkName rejects names that are not clean relative paths: "..", ".",
// empty components, control characters, over-long names.
func checkName(n string) error {
	if len(n) > maxPathLen {
		return fmt.Errorf("%w: name of %d bytes (limit %d)", ErrUnsafePath, len(n), maxPathLen)
	}
	if n == "." {
		return nil
	}
	if !fs.ValidPath(n) {
		return fmt.Errorf("%w: %q is not a clean relative path", ErrUnsafePath, n)
	}
	for _, c := range strings.Split(n, "/") {
		if len(c) > maxNameLen {
			return fmt.Errorf("%w: component of %d bytes (limit %d)", ErrUnsafePath, len(c), maxNameLen)
		}
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x20 || n[i] == 0x7f {
			return fmt.Errorf("%w: control character %#x in name", ErrUnsafePath, n[i])
		}
	}
	return nil
}

// walkState resolves paths component by component, keeping the chain of
// directories for "..".
type walkState struct {
	r     *Rootfs
	stack []*node
	links int
}

// walk resolves comps from the current stack. If follow is false the last
// component is not followed when it is a symlink. It returns the final node
// (nil if the last component does not exist, then with its parent on top
// of the stack and its name).
func (w *walkState) walk(comps []string, follow bool) (*node, string, error) {
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		last := len(comps) == 0
		switch c {
		case "", ".":
			if last {
				return w.stack[len(w.stack)-1], "", nil
			}
			continue
		case "..":
			if len(w.stack) == 1 {
				return nil, "", ErrEscape
			}
			w.stack = w.stack[:len(w.stack)-1]
			if last {
				return w.stack[len(w.stack)-1], "", nil
			}
			continue
		}
		dir := w.stack[len(w.stack)-1]
		if dir.mode&fs.ModeDir == 0 {
			return nil, "", fmt.Errorf("%w: not a directory", fs.ErrInvalid)
		}
		n := dir.children[c]
		if n == nil {
			if last {
				return nil, c, nil
			}
			return nil, "", fs.ErrNotExist
		}
		if n.mode&fs.ModeSymlink != 0 && (!last || follow) {
			w.links++
			if w.links > maxLinks {
				return nil, "", fmt.Errorf("%w: too many levels of symlinks", fs.ErrInvalid)
			}
			t := n.target
			if strings.HasPrefix(t, "/") {
				w.stack = w.stack[:1]
			}
			comps = append(strings.Split(strings.Trim(t, "/"), "/"), comps...)
			if len(comps) == 1 && comps[0] == "" {
				comps = []string{"."}
			}
			continue
		}
		if last {
			return n, c, nil
		}
		if n.mode&fs.ModeDir == 0 {
			return nil, "", fmt.Errorf("%w: %s is not a directory", fs.ErrInvalid, c)
		}
		w.stack = append(w.stack, n)
	}
	return w.stack[len(w.stack)-1], "", nil
}

// resolveParent resolves the directory that holds name's last component
// (following symlinks on the way) and returns it with that component ("" for
// the root itself).
func (r *Rootfs) resolveParent(name string) (*node, string, error) {
	if name == "." {
		return r.root, "", nil
	}
	comps := strings.Split(name, "/")
	w := walkState{r: r, stack: []*node{r.root}}
	if len(comps) > 1 {
		n, _, err := w.walk(comps[:len(comps)-1], true)
		if err != nil {
			return nil, "", err
		}
		if n == nil {
			return nil, "", fs.ErrNotExist
		}
		if n.mode&fs.ModeDir == 0 {
			return nil, "", fmt.Errorf("%w: parent is not a directory", fs.ErrInvalid)
		}
		return n, comps[len(comps)-1], nil
	}
	return r.root, comps[0], nil
}

// lookup resolves name; follow resolves a final symlink too.
func (r *Rootfs) lookup(name string, follow bool) (*node, error) {
	if name == "." {
		return r.root, nil
	}
	w := walkState{r: r, stack: []*node{r.root}}
	n, _, err := w.walk(strings.Split(name, "/"), follow)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fs.ErrNotExist
	}
	return n, nil
}

func (r *Rootfs) pathErr(op, name string, err error) error {
	return &PathError{Op: op, Path: name, Err: err}
}

// Mkdir creates directory name with perm (setgid and sticky bits kept) and
// attr. Its parent must exist. An existing directory is updated to perm and
// attr (as an APK that ships a directory another already made).
func (r *Rootfs) Mkdir(name string, perm fs.FileMode, attr FileAttr) error {
	return r.mkdir(name, perm, attr, time.Time{})
}

func (r *Rootfs) mkdir(name string, perm fs.FileMode, attr FileAttr, mtime time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.mkdirLocked(name, perm, attr, mtime, true)
	return err
}

func (r *Rootfs) mkdirLocked(name string, perm fs.FileMode, attr FileAttr, mtime time.Time, update bool) (*node, error) {
	if r.closed {
		return nil, ErrClosed
	}
	n, err := cleanName(name)
	if err != nil {
		return nil, r.pathErr("mkdir", name, err)
	}
	dir, base, err := r.resolveParent(n)
	if err != nil {
		return nil, r.pathErr("mkdir", name, err)
	}
	if base == "" {
		dir.setAttr(perm, attr, mtime, r.opt.mtime, update)
		return dir, nil
	}
	if old := dir.children[base]; old != nil {
		if old.mode&fs.ModeSymlink != 0 {
			// A directory over a symlink to a directory (merged /usr): the
			// symlink stays and the directory is the one it points to.
			t, err := r.lookup(n, true)
			if err == nil && t.mode&fs.ModeDir != 0 {
				return t, nil
			}
		}
		if old.mode&fs.ModeDir == 0 {
			return nil, r.pathErr("mkdir", name, fmt.Errorf("%w: a %s exists there", ErrConflict, typeName(old.mode)))
		}
		old.setAttr(perm, attr, mtime, r.opt.mtime, update)
		return old, nil
	}
	if err := r.addEntry(); err != nil {
		return nil, r.pathErr("mkdir", name, err)
	}
	d := &node{mode: fs.ModeDir, children: map[string]*node{}}
	d.setAttr(perm, attr, mtime, r.opt.mtime, true)
	dir.children[base] = d
	return d, nil
}

func (r *Rootfs) addEntry() error {
	if r.entries >= r.opt.maxEntries {
		return fmt.Errorf("%w: more than %d entries", ErrTooLarge, r.opt.maxEntries)
	}
	r.entries++
	return nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeDir != 0:
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "file"
}

func (n *node) setAttr(perm fs.FileMode, attr FileAttr, mtime, def time.Time, update bool) {
	if !update {
		return
	}
	n.mode = n.mode&fs.ModeType | normalizePerm(perm)
	n.uid, n.gid, n.pkg = attr.UID, attr.GID, attr.Package
	n.xattrs = maps.Clone(attr.Xattrs)
	if mtime.IsZero() {
		mtime = def
	}
	n.mtime = mtime.UTC()
}

// MkdirAll creates name and any missing parents; parents get 0755
// root:root, name gets perm and attr if it is created.
func (r *Rootfs) MkdirAll(name string, perm fs.FileMode, attr FileAttr) error {
	n, err := cleanName(name)
	if err != nil {
		return r.pathErr("mkdir", name, err)
	}
	if n == "." {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	comps := strings.Split(n, "/")
	for i := range comps {
		p := strings.Join(comps[:i+1], "/")
		if t, err := r.lookup(p, true); err == nil {
			if t.mode&fs.ModeDir == 0 {
				return r.pathErr("mkdir", p, fmt.Errorf("%w: a %s exists there", ErrConflict, typeName(t.mode)))
			}
			continue
		}
		pm, a := fs.FileMode(0o755), FileAttr{Package: attr.Package}
		if i == len(comps)-1 {
			pm, a = perm, attr
		}
		if _, err := r.mkdirLocked(p, pm, a, time.Time{}, true); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile creates or replaces the regular file name with the content of
// r, perm (setuid, setgid kept) and attr. Its parent must exist.
func (r *Rootfs) WriteFile(name string, rd io.Reader, perm fs.FileMode, attr FileAttr) error {
	n, err := cleanName(name)
	if err != nil || n == "." {
		if err == nil {
			err = ErrUnsafePath
		}
		return r.pathErr("write", name, err)
	}
	blob, size, err := r.stage(rd)
	if err != nil {
		return r.pathErr("write", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.putLocked(n, &node{mode: 0, blob: blob, size: size, nlink: 1}, perm, attr, time.Time{}, nil)
	return err
}

// stage copies rd into the content store and returns its digest and size.
func (r *Rootfs) stage(rd io.Reader) (string, int64, error) {
	r.mu.RLock()
	closed, dir, limit := r.closed, r.staging, r.opt.maxFileSize
	r.mu.RUnlock()
	if closed {
		return "", 0, ErrClosed
	}
	f, err := os.CreateTemp(dir, ".stage-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rd, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	if n > limit {
		return "", 0, fmt.Errorf("%w: file larger than %d bytes", ErrTooLarge, limit)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dst := r.blobPath(sum)
	if _, err := os.Stat(dst); err == nil {
		return sum, n, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", 0, err
	}
	return sum, n, nil
}

func (r *Rootfs) blobPath(sum string) string {
	return filepath.Join(r.staging, sum[:2], sum)
}

// undo records how to revert one change to the tree.
type undo struct {
	dir   *node
	name  string
	old   *node // nil: the name did not exist
	total int64
}

// putLocked places n (a file or symlink) at name, replacing an existing
// file or symlink; it refuses to replace a directory. log, if not nil,
// receives how to revert the change.
func (r *Rootfs) putLocked(name string, n *node, perm fs.FileMode, attr FileAttr, mtime time.Time, log *[]undo) (*node, error) {
	if r.closed {
		return nil, ErrClosed
	}
	op := "write"
	if n.mode&fs.ModeSymlink != 0 {
		op = "symlink"
	}
	dir, base, err := r.resolveParent(name)
	if err != nil {
		return nil, r.pathErr(op, name, err)
	}
	if base == "" {
		return nil, r.pathErr(op, name, fmt.Errorf("%w: the root is a directory", ErrConflict))
	}
	old := dir.children[base]
	if old != nil && old.mode&fs.ModeDir != 0 {
		return nil, r.pathErr(op, name, fmt.Errorf("%w: a directory exists there", ErrConflict))
	}
	if n.mode&fs.ModeType == 0 {
		if r.total+n.size > r.opt.maxTotalSize {
			return nil, r.pathErr(op, name, fmt.Errorf("%w: tree larger than %d bytes", ErrTooLarge, r.opt.maxTotalSize))
		}
	}
	if old == nil {
		if err := r.addEntry(); err != nil {
			return nil, r.pathErr(op, name, err)
		}
	}
	n.setAttr(perm, attr, mtime, r.opt.mtime, true)
	var delta int64
	if n.mode&fs.ModeType == 0 {
		delta += n.size
	}
	if old != nil {
		r.unlinkLocked(old)
		if old.mode&fs.ModeType == 0 && old.nlink == 0 {
			delta -= old.size
		}
	}
	r.total += delta
	dir.children[base] = n
	if log != nil {
		*log = append(*log, undo{dir: dir, name: base, old: old, total: -delta})
	}
	return n, nil
}

func (r *Rootfs) unlinkLocked(n *node) {
	if n.mode&fs.ModeType == 0 && n.nlink > 0 {
		n.nlink--
	}
}

// Symlink creates the symlink name pointing at target (stored as given;
// it resolves inside the tree).
func (r *Rootfs) Symlink(target, name string, attr FileAttr) error {
	n, err := cleanName(name)
	if err != nil || n == "." {
		if err == nil {
			err = ErrUnsafePath
		}
		return r.pathErr("symlink", name, err)
	}
	if err := checkTarget(target); err != nil {
		return r.pathErr("symlink", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err = r.putLocked(n, &node{mode: fs.ModeSymlink, target: target}, 0o777, attr, time.Time{}, nil)
	return err
}

func checkTarget(t string) error {
	if t == "" || len(t) > maxPathLen {
		return fmt.Errorf("%w: symlink target of %d bytes", ErrUnsafePath, len(t))
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] == 0x7f {
			return fmt.Errorf("%w: control character %#x in symlink target", ErrUnsafePath, t[i])
		}
	}
	return nil
}

// Link makes newname another name of the regular file oldname (a
// hardlink). oldname's final component is not followed.
func (r *Rootfs) Link(oldname, newname string) error {
	o, err := cleanName(oldname)
	if err != nil {
		return r.pathErr("link", oldname, err)
	}
	nn, err := cleanName(newname)
	if err != nil || nn == "." {
		if err == nil {
			err = ErrUnsafePath
		}
		return r.pathErr("link", newname, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.linkLocked(o, nn, nil)
}

func (r *Rootfs) linkLocked(o, nn string, log *[]undo) error {
	if r.closed {
		return ErrClosed
	}
	src, err := r.lookup(o, false)
	if err != nil {
		return r.pathErr("link", o, err)
	}
	if src.mode&fs.ModeType != 0 {
		return r.pathErr("link", o, fmt.Errorf("%w: %s is a %s", ErrHardlink, o, typeName(src.mode)))
	}
	dir, base, err := r.resolveParent(nn)
	if err != nil {
		return r.pathErr("link", nn, err)
	}
	old := dir.children[base]
	if old == src {
		return nil
	}
	if old != nil && old.mode&fs.ModeDir != 0 {
		return r.pathErr("link", nn, fmt.Errorf("%w: a directory exists there", ErrConflict))
	}
	var delta int64
	if old == nil {
		if err := r.addEntry(); err != nil {
			return r.pathErr("link", nn, err)
		}
	} else {
		r.unlinkLocked(old)
		if old.mode&fs.ModeType == 0 && old.nlink == 0 {
			delta = -old.size
		}
	}
	if src.ino == 0 {
		r.nextIno++
		src.ino = r.nextIno
	}
	src.nlink++
	r.total += delta
	dir.children[base] = src
	if log != nil {
		*log = append(*log, undo{dir: dir, name: base, old: old, total: -delta})
	}
	return nil
}

// Remove removes name (a file, a symlink, or an empty directory); a final
// symlink is removed, not followed.
func (r *Rootfs) Remove(name string) error {
	n, err := cleanName(name)
	if err != nil || n == "." {
		if err == nil {
			err = ErrUnsafePath
		}
		return r.pathErr("remove", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	dir, base, err := r.resolveParent(n)
	if err != nil {
		return r.pathErr("remove", name, err)
	}
	old := dir.children[base]
	if old == nil {
		return r.pathErr("remove", name, fs.ErrNotExist)
	}
	if old.mode&fs.ModeDir != 0 && len(old.children) > 0 {
		return r.pathErr("remove", name, fmt.Errorf("%w: directory not empty", fs.ErrInvalid))
	}
	r.unlinkLocked(old)
	if old.mode&fs.ModeType == 0 && old.nlink == 0 {
		r.total -= old.size
	}
	delete(dir.children, base)
	r.entries--
	return nil
}

// rollback reverts the changes in log, newest first.
func (r *Rootfs) rollback(log []undo) {
	for i := len(log) - 1; i >= 0; i-- {
		u := log[i]
		cur := u.dir.children[u.name]
		if cur != nil {
			r.unlinkLocked(cur)
			if cur.mode&fs.ModeType == 0 && cur.nlink == 0 && cur.ino != 0 {
				cur.ino = 0
			}
		}
		if u.old == nil {
			delete(u.dir.children, u.name)
			r.entries--
		} else {
			if u.old.mode&fs.ModeType == 0 {
				u.old.nlink++
			}
			u.dir.children[u.name] = u.old
		}
		r.total += u.total
	}
}

// Walk calls fn for every entry of the tree, the root (".") first, then
// depth-first in lexical order of names; symlinks are not followed. A
// hardlinked file is visited under each of its names. If fn returns
// fs.SkipDir for a directory its contents are skipped.
func (r *Rootfs) Walk(fn func(name string, fi fs.FileInfo) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	err := r.walkNode(".", r.root, fn)
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

func (r *Rootfs) walkNode(name string, n *node, fn func(string, fs.FileInfo) error) error {
	if err := fn(name, &fileInfo{name: path.Base(name), n: n}); err != nil {
		if err == fs.SkipDir && n.mode&fs.ModeDir != 0 {
			return nil
		}
		return err
	}
	if n.mode&fs.ModeDir == 0 {
		return nil
	}
	for _, c := range sortedNames(n) {
		p := c
		if name != "." {
			p = name + "/" + c
		}
		if err := r.walkNode(p, n.children[c], fn); err != nil {
			return err
		}
	}
	return nil
}

func sortedNames(n *node) []string {
	names := make([]string, 0, len(n.children))
	for c := range n.children {
		names = append(names, c)
	}
	sort.Strings(names)
	return names
}

// Size returns the total size of the tree's regular files, each hardlinked
// file once.
func (r *Rootfs) Size() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.total
}

// normalizePerm keeps permission, setuid, setgid and sticky bits, given Go
// style (fs.ModeSetuid) or Unix style (0o4000).
func normalizePerm(perm fs.FileMode) fs.FileMode {
	return perm&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) | goMode(int64(perm&0o7000))
}
