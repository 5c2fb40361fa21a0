package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The mutators of a Rootfs: directories, files, symlinks, hardlinks,
// removal, and the undo log that makes an installation all or nothing.

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
	// Staged bytes count against the tree's total limit as they are
	// written, not when the package is installed.
	cw := &stagingCounter{r: r, max: r.opt.maxTotalSize}
	n, err := io.Copy(io.MultiWriter(cw, f, h), io.LimitReader(rd, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	keep := false
	defer func() {
		if !keep {
			r.staged.Add(-cw.n)
		}
	}()
	if err != nil {
		return "", 0, err
	}
	if n > limit {
		return "", 0, fmt.Errorf("%w: file larger than %d bytes", ErrTooLarge, limit)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dst := r.blobPath(sum)
	if _, err := os.Stat(dst); err == nil {
		return sum, n, nil // staged before: counted then
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return "", 0, err
	}
	keep = true
	return sum, n, nil
}

// stagingCounter counts bytes staged into the tree's total and fails once
// the staging directory would hold more than max.
type stagingCounter struct {
	r   *Rootfs
	n   int64
	max int64
}

func (c *stagingCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if t := c.r.staged.Add(int64(len(p))); t > c.max {
		return 0, fmt.Errorf("%w: staging larger than %d bytes (the tree's limit)", ErrTooLarge, c.max)
	}
	return len(p), nil
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
