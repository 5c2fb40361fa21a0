package erofs

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hardvm/hardvm/internal/epoch"
)

// Unix file type bits as EROFS stores them in i_mode.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// xattr is one extended attribute split into its EROFS prefix index and
// the name suffix.
type xattr struct {
	index  uint8
	suffix string
	value  string
}

// node is one inode of the image. Hardlinked names share a node.
type node struct {
	path   string // source path of its first name
	mode   uint16
	uid    uint32
	gid    uint32
	mtime  int64
	size   uint64 // bytes of data: file content, dirents or link target
	nlink  uint32
	rdev   uint32
	target string
	xattrs []xattr
	kids   []dirent // directories: children sorted by name
	parent *node    // directories: the parent directory

	// Planned by layout.
	ino     uint32
	nid     uint64
	layout  uint8
	xsize   int    // bytes of the inline xattr area
	blkaddr uint32 // first data block
	nblocks uint32 // whole data blocks in the data area
	tail    int    // bytes stored inline after the inode
}

type dirent struct {
	name string
	n    *node
}

func (n *node) typ() uint16 { return n.mode & sIFMT }

// fileType returns the EROFS dirent file type of n.
func (n *node) fileType() uint8 {
	switch n.typ() {
	case sIFREG:
		return 1
	case sIFDIR:
		return 2
	case sIFCHR:
		return 3
	case sIFBLK:
		return 4
	case sIFIFO:
		return 5
	case sIFSOCK:
		return 6
	case sIFLNK:
		return 7
	}
	return 0
}

// unixMode converts an fs.FileMode to Unix mode bits, with setuid, setgid
// and sticky bits.
func unixMode(m fs.FileMode) (uint16, error) {
	u := uint16(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	switch {
	case m.IsDir():
		u |= sIFDIR
	case m.IsRegular():
		u |= sIFREG
	case m&fs.ModeSymlink != 0:
		u |= sIFLNK
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		u |= sIFCHR
	case m&fs.ModeDevice != 0:
		u |= sIFBLK
	case m&fs.ModeNamedPipe != 0:
		u |= sIFIFO
	case m&fs.ModeSocket != 0:
		u |= sIFSOCK
	default:
		return 0, fmt.Errorf("%w: mode %v", ErrFileType, m)
	}
	return u, nil
}

// xattrPrefixes are the EROFS xattr name indexes (erofs_fs.h); an ACL
// name is a whole name with an empty suffix.
var xattrPrefixes = []struct {
	index  uint8
	prefix string
	whole  bool
}{
	{1, "user.", false},
	{2, "system.posix_acl_access", true},
	{3, "system.posix_acl_default", true},
	{4, "trusted.", false},
	{6, "security.", false},
}

func splitXattrs(m map[string]string) ([]xattr, error) {
	out := make([]xattr, 0, len(m))
	for name, v := range m {
		var x *xattr
		for _, p := range xattrPrefixes {
			if (p.whole && name == p.prefix) || (!p.whole && strings.HasPrefix(name, p.prefix) && len(name) > len(p.prefix)) {
				x = &xattr{index: p.index, suffix: name[len(p.prefix):], value: v}
				break
			}
		}
		if x == nil {
			return nil, fmt.Errorf("%w: %q", ErrXattrName, name)
		}
		if len(x.suffix) > 255 || len(v) > 65535 {
			return nil, fmt.Errorf("%w: %q (%d byte value)", ErrXattrTooLarge, name, len(v))
		}
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].index != out[j].index {
			return out[i].index < out[j].index
		}
		return out[i].suffix < out[j].suffix
	})
	return out, nil
}

// tree is the planned image: its inodes in walk order, root first.
type tree struct {
	nodes []*node
	data  int64 // bytes of regular file content
	last  int64 // index of the last block of the image
}

// scan walks src and builds the inode tree.
func scan(ctx context.Context, src fs.FS, o *options) (*tree, error) {
	t := &tree{}
	dirs := map[string]*node{}
	links := map[uint64]*node{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		if p == "." && !fi.IsDir() {
			return ErrNoRoot
		}
		a, err := o.attr(p, fi)
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		var parent *node
		if p != "." {
			parent = dirs[path.Dir(p)]
			if parent == nil {
				return &PathError{Path: p, Err: fmt.Errorf("%w: parent not walked", fs.ErrInvalid)}
			}
		}
		if a.Ino != 0 && !fi.IsDir() {
			if n := links[a.Ino]; n != nil {
				n.nlink++
				parent.kids = append(parent.kids, dirent{name: path.Base(p), n: n})
				return nil
			}
		}
		mode, err := unixMode(fi.Mode())
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		xs, err := splitXattrs(a.Xattrs)
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		n := &node{
			path:   p,
			mode:   mode,
			uid:    a.UID,
			gid:    a.GID,
			mtime:  epoch.Clamp(fi.ModTime(), o.epoch).Unix(),
			nlink:  1,
			xattrs: xs,
		}
		switch n.typ() {
		case sIFREG:
			if fi.Size() < 0 {
				return &PathError{Path: p, Err: fmt.Errorf("%w: negative size", fs.ErrInvalid)}
			}
			n.size = uint64(fi.Size())
			t.data += fi.Size()
		case sIFLNK:
			target, err := fs.ReadLink(src, p)
			if err != nil {
				return &PathError{Path: p, Err: err}
			}
			if target == "" || len(target) > 4095 {
				return &PathError{Path: p, Err: fmt.Errorf("%w: symlink target of %d bytes", fs.ErrInvalid, len(target))}
			}
			n.target = target
			n.size = uint64(len(target))
		case sIFCHR, sIFBLK:
			n.rdev = a.Rdev
		case sIFDIR:
			n.nlink = 2
			n.parent = parent
			dirs[p] = n
		}
		if a.Ino != 0 && n.typ() != sIFDIR {
			links[a.Ino] = n
		}
		if parent != nil {
			parent.kids = append(parent.kids, dirent{name: path.Base(p), n: n})
			if n.typ() == sIFDIR {
				parent.nlink++
			}
		} else {
			n.parent = n
		}
		t.nodes = append(t.nodes, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(t.nodes) > 1<<32-2 {
		return nil, fmt.Errorf("%w: %d inodes", ErrTooLarge, len(t.nodes))
	}
	for _, n := range t.nodes {
		if n.typ() == sIFDIR {
			sort.Slice(n.kids, func(i, j int) bool { return n.kids[i].name < n.kids[j].name })
		}
	}
	return t, nil
}
