package image

import (
	"archive/tar"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stagedEntry is one entry of a package's data stream whose content (for
// regular files) is already in the staging area, waiting for the package to
// verify before it enters the tree.
type stagedEntry struct {
	name   string // cleaned, relative
	typ    byte   // tar type flag
	mode   fs.FileMode
	uid    uint32
	gid    uint32
	mtime  time.Time
	xattrs map[string]string
	link   string // symlink target or hardlink source (cleaned)
	blob   string
	size   int64
	sha1   string // hex SHA-1 of a regular file's content (for the installed database)
	uname  string // owner names, mapped through the tree's /etc/passwd and /etc/group at install
	gname  string
}

// packageName checks and cleans a name from a package's data stream.
func packageName(raw string) (string, error) {
	n := strings.TrimPrefix(raw, "./")
	n = strings.TrimSuffix(n, "/")
	if n == "" || n == "." {
		return "", fmt.Errorf("%w: empty name %q", ErrUnsafePath, raw)
	}
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("%w: absolute name %q", ErrUnsafePath, raw)
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: %q has a \"..\" component", ErrUnsafePath, raw)
		}
	}
	if err := checkName(n); err != nil {
		return "", err
	}
	return n, nil
}

// stageEntry checks one tar entry of package pkg and stages its content.
func (r *Rootfs) stageEntry(pkg string, h *tar.Header, rd io.Reader) (stagedEntry, error) {
	name, err := packageName(h.Name)
	if err != nil {
		return stagedEntry{}, &PathError{Op: "install", Package: pkg, Path: h.Name, Err: err}
	}
	if h.Uid < 0 || h.Gid < 0 || h.Uid > 1<<31 || h.Gid > 1<<31 {
		return stagedEntry{}, &PathError{Op: "install", Package: pkg, Path: h.Name, Err: fmt.Errorf("%w: owner %d:%d", ErrUnsafePath, h.Uid, h.Gid)}
	}
	e := stagedEntry{
		name: name, typ: h.Typeflag, mode: goMode(h.Mode),
		uid: uint32(h.Uid), gid: uint32(h.Gid), mtime: h.ModTime.UTC(),
		uname: h.Uname, gname: h.Gname,
	}
	for k, v := range h.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.xattrs == nil {
				e.xattrs = map[string]string{}
			}
			e.xattrs[x] = v
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
	case tar.TypeReg:
		if h.Size > r.opt.maxFileSize {
			return stagedEntry{}, &PathError{Op: "install", Package: pkg, Path: h.Name, Err: fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, h.Size, r.opt.maxFileSize)}
		}
		s1 := sha1.New()
		blob, size, err := r.stage(io.TeeReader(rd, s1))
		if err != nil {
			return stagedEntry{}, &PathError{Op: "install", Package: pkg, Path: h.Name, Err: err}
		}
		e.blob, e.size, e.sha1 = blob, size, hex.EncodeToString(s1.Sum(nil))
	case tar.TypeSymlink:
		if err := checkTarget(h.Linkname); err != nil {
			return stagedEntry{}, &PathError{Op: "install", Package: pkg, Path: h.Name, Err: err}
		}
		e.link = h.Linkname
	case tar.TypeLink:
		l, err := packageName(h.Linkname)
		if err != nil {
			return stagedEntry{}, &PathError{Op: "install", Package: pkg, Path: h.Name, Err: fmt.Errorf("%w: to %q: %v", ErrHardlink, h.Linkname, err)}
		}
		e.link = l
	default:
		return stagedEntry{}, &PathError{Op: "install", Package: pkg, Path: h.Name, Err: fmt.Errorf("%w: tar entry type %q (devices and fifos are not installed)", ErrUnsafePath, h.Typeflag)}
	}
	return e, nil
}

// install puts a verified package's entries into the tree, all or nothing:
// on any error the tree is left as it was. replaces lists the packages
// whose files this one may overwrite; times are clamped to epoch.
func (r *Rootfs) install(pkg string, replaces []string, entries []stagedEntry, epoch time.Time) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	var log []undo
	defer func() {
		if err != nil {
			r.rollback(log)
		}
	}()
	own := map[string]bool{} // regular files of this package, by name
	users, groups := r.idMapLocked("etc/passwd"), r.idMapLocked("etc/group")
	for i := range entries {
		e := &entries[i] // mapped owners go to the installed database too
		e.uid, e.gid = mapID(users, e.uname, e.uid), mapID(groups, e.gname, e.gid)
		mtime := e.mtime
		if mtime.After(epoch) {
			mtime = epoch
		}
		attr := FileAttr{UID: e.uid, GID: e.gid, Xattrs: e.xattrs, Package: pkg}
		fail := func(err error) error {
			return &PathError{Op: "install", Package: pkg, Path: e.name, Err: err}
		}
		if err := r.parentsLocked(e.name, mtime, &log); err != nil {
			return fail(err)
		}
		if e.typ == tar.TypeDir {
			d, base, err := r.resolveParent(e.name)
			if err != nil {
				return fail(err)
			}
			if old := d.children[base]; old != nil {
				if t, err := r.lookup(e.name, true); err == nil && t.mode&fs.ModeDir != 0 {
					continue // shared directory (or a symlink to one): keep it
				}
				return fail(fmt.Errorf("%w: directory over the %s of %s", ErrConflict, typeName(old.mode), ownerName(old)))
			}
			if err := r.addEntry(); err != nil {
				return fail(err)
			}
			n := &node{mode: fs.ModeDir, children: map[string]*node{}}
			n.setAttr(e.mode, attr, mtime, r.opt.mtime, true)
			d.children[base] = n
			log = append(log, undo{dir: d, name: base})
			continue
		}
		d, base, err := r.resolveParent(e.name)
		if err != nil {
			return fail(err)
		}
		if old := d.children[base]; old != nil && old.mode&fs.ModeDir == 0 && old.pkg != pkg && old.pkg != "" && !slices.Contains(replaces, old.pkg) {
			return fail(fmt.Errorf("%w: %s also owns it (no replaces)", ErrConflict, old.pkg))
		}
		switch e.typ {
		case tar.TypeReg:
			if _, err := r.putLocked(e.name, &node{blob: e.blob, size: e.size, nlink: 1}, e.mode, attr, mtime, &log); err != nil {
				return withPkg(err, pkg)
			}
			own[e.name] = true
		case tar.TypeSymlink:
			if _, err := r.putLocked(e.name, &node{mode: fs.ModeSymlink, target: e.link}, 0o777, attr, mtime, &log); err != nil {
				return withPkg(err, pkg)
			}
		case tar.TypeLink:
			if !own[e.link] {
				return fail(fmt.Errorf("%w: to %s, not an earlier file of this package", ErrHardlink, e.link))
			}
			if err := r.linkLocked(e.link, e.name, &log); err != nil {
				return withPkg(err, pkg)
			}
			own[e.name] = true
		}
	}
	return nil
}

// parentsLocked creates the missing parent directories of name (0755
// root:root, as apk-tools does), following the tree's symlinks.
func (r *Rootfs) parentsLocked(name string, mtime time.Time, log *[]undo) error {
	comps := strings.Split(name, "/")
	for i := 1; i < len(comps); i++ {
		p := strings.Join(comps[:i], "/")
		d, base, err := r.resolveParent(p)
		if err != nil {
			return err
		}
		if base == "" || d.children[base] != nil {
			continue
		}
		if err := r.addEntry(); err != nil {
			return err
		}
		n := &node{mode: fs.ModeDir, children: map[string]*node{}}
		n.setAttr(0o755, FileAttr{}, mtime, r.opt.mtime, true)
		d.children[base] = n
		*log = append(*log, undo{dir: d, name: base})
	}
	return nil
}

// idMapLocked reads name → id from an /etc/passwd or /etc/group of the
// tree ("" or unreadable: empty).
func (r *Rootfs) idMapLocked(name string) map[string]uint32 {
	n, err := r.lookup(name, true)
	if err != nil || n.mode&fs.ModeType != 0 || n.size > 4<<20 {
		return nil
	}
	b, err := os.ReadFile(r.blobPath(n.blob))
	if err != nil {
		return nil
	}
	m := map[string]uint32{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			if _, dup := m[f[0]]; !dup {
				m[f[0]] = uint32(id)
			}
		}
	}
	return m
}

// mapID maps an owner name as apk-tools does: the id the tree's database
// gives the name, 0 for root, else the numeric id of the archive.
func mapID(m map[string]uint32, name string, id uint32) uint32 {
	if name == "" {
		return id
	}
	if v, ok := m[name]; ok {
		return v
	}
	if name == "root" {
		return 0
	}
	return id
}

func ownerName(n *node) string {
	if n.pkg == "" {
		return "the build"
	}
	return n.pkg
}

func withPkg(err error, pkg string) error {
	if pe, ok := err.(*PathError); ok {
		c := *pe
		c.Package, c.Op = pkg, "install"
		return &c
	}
	return err
}

// dbFile is one file of a package as the installed database lists it.
type dbFile struct {
	name   string
	mode   fs.FileMode
	uid    uint32
	gid    uint32
	sha1   string // content (files) or target (symlinks)
	isDir  bool
	xattrs map[string]string
}

// dbFiles lists a package's entries for the installed database.
func dbFiles(entries []stagedEntry) []dbFile {
	out := make([]dbFile, 0, len(entries))
	sums := map[string]dbFile{}
	for _, e := range entries {
		f := dbFile{name: e.name, mode: e.mode, uid: e.uid, gid: e.gid, isDir: e.typ == tar.TypeDir, xattrs: maps.Clone(e.xattrs)}
		switch e.typ {
		case tar.TypeReg:
			f.sha1 = e.sha1
			sums[e.name] = f
		case tar.TypeSymlink:
			s := sha1.Sum([]byte(e.link))
			f.sha1, f.mode = hex.EncodeToString(s[:]), 0o777
		case tar.TypeLink:
			t := sums[e.link]
			f.sha1, f.mode, f.uid, f.gid, f.xattrs = t.sha1, t.mode, t.uid, t.gid, t.xattrs
		}
		out = append(out, f)
	}
	return out
}
