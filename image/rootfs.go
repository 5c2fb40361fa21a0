package image

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardvm/hardvm/internal/reclaim"
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
	staging string       // this tree's own directory inside the caller's
	held    *reclaim.Dir // staging, held until Close
	root    *node
	nextIno uint64
	total   int64        // bytes of regular files, each inode once
	staged  atomic.Int64 // bytes in the staging directory, counted as written
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

// stagingPrefix starts the name of a tree's staging directory.
const stagingPrefix = "rootfs-"

// NewRootfs returns an empty tree (a root directory 0755 root:root) whose
// content is staged in a new directory inside stagingDir, rootfs-*, held
// under a lock file (rootfs-*.lock) until Close. It first removes the
// staging directories there of processes that died without closing their
// tree (killed), and never those of live ones.
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
	// Staging directories of runs that died (kill -9) are taken back;
	// those of live runs are held under a lock and left alone.
	if _, err := reclaim.Dirs(stagingDir, stagingPrefix); err != nil {
		return nil, fmt.Errorf("image: staging: %w", err)
	}
	dir, err := reclaim.TempDir(stagingDir, stagingPrefix)
	if err != nil {
		return nil, fmt.Errorf("image: staging: %w", err)
	}
	return &Rootfs{
		staging: dir.Path(),
		held:    dir,
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
	return r.held.Remove()
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
