package erofs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// What the reader accepts beyond the writer's own features.
const (
	compactInodeSize      = 32
	layoutCompressedFull  = 1
	layoutCompressedCompt = 3
	layoutChunkBased      = 4
	nullAddr              = 0xffffffff
	// featureIncompatZeroPadding is LZ4_0PADDING, which mkfs.erofs sets on
	// uncompressed images too; without compressed files it changes nothing.
	featureIncompatZeroPadding = 0x1
	// maxSymlinks bounds the symbolic links one path resolution follows,
	// as Linux's MAXSYMLINKS.
	maxSymlinks = 40
	// maxLink bounds the length of a symlink target that is read.
	maxLink = 4095
)

// FS is an EROFS image opened for reading with [Open]. It is an fs.FS
// (with ReadDir, ReadFile, Stat, ReadLink and Lstat) that follows symbolic
// links inside the image, as a mounted image would. Every read is bounded
// by the image's block count and the size Open was given; anything the
// reader does not understand is refused with [ErrUnsupported], anything
// inconsistent with [ErrCorrupt]. An FS is safe for concurrent use if r is.
type FS struct {
	r         io.ReaderAt
	size      int64 // bytes of the image: blocks × block size
	rootNid   uint64
	inodes    uint64
	epoch     int64
	metaAddr  int64 // byte offset of the metadata area
	xattrAddr int64 // byte offset of the shared xattr area
	// UUID and Volume are the superblock's volume UUID and label.
	uuid   [16]byte
	volume string
}

// Stat is what [FS] reports in an entry's FileInfo.Sys().
type Stat struct {
	Nid   uint64 // inode position: byte offset / 32 in the metadata area
	Ino   uint32 // inode number as stored
	UID   uint32
	GID   uint32
	Nlink uint32
	Rdev  uint32 // device number of a character or block device
	// Xattrs maps full names ("security.capability") to raw values.
	Xattrs map[string]string
}

// Open reads and checks the superblock of the EROFS image in r, of size
// bytes (the image may be shorter; it must not claim more blocks than
// size holds).
func Open(r io.ReaderAt, size int64) (*FS, error) {
	if size < blockSize {
		return nil, fmt.Errorf("%w: %d bytes is smaller than the superblock's block", ErrCorrupt, size)
	}
	b := make([]byte, blockSize)
	if n, err := r.ReadAt(b, 0); n != blockSize {
		return nil, fmt.Errorf("%w: read superblock: %w", ErrCorrupt, orEOF(err))
	}
	s := b[superOffset:]
	le := binary.LittleEndian
	if m := le.Uint32(s[0:]); m != magic {
		return nil, fmt.Errorf("%w: magic %#x (want %#x)", ErrCorrupt, m, uint32(magic))
	}
	if s[12] != blockBits {
		return nil, fmt.Errorf("%w: %d-byte blocks (the reader reads 4096)", ErrUnsupported, 1<<min(s[12], 63))
	}
	if le.Uint32(s[8:])&featureCompatSBChecksum != 0 {
		want := le.Uint32(s[4:])
		c := append([]byte(nil), s...)
		le.PutUint32(c[4:], 0)
		if got := ^crc32.Checksum(c, crc32.MakeTable(crc32.Castagnoli)); got != want {
			return nil, fmt.Errorf("%w: superblock checksum %#x, computed %#x", ErrCorrupt, want, got)
		}
	}
	if in := le.Uint32(s[80:]); in&^featureIncompatZeroPadding != 0 {
		return nil, fmt.Errorf("%w: incompatible features %#x", ErrUnsupported, in)
	}
	if s[13] != 0 {
		return nil, fmt.Errorf("%w: %d extra superblock slots", ErrUnsupported, s[13])
	}
	blocks := int64(le.Uint32(s[36:]))
	if blocks < 1 || blocks > size/blockSize {
		return nil, fmt.Errorf("%w: %d blocks in %d bytes", ErrCorrupt, blocks, size)
	}
	f := &FS{
		r:         r,
		size:      blocks * blockSize,
		rootNid:   uint64(le.Uint16(s[14:])),
		inodes:    le.Uint64(s[16:]),
		epoch:     int64(le.Uint64(s[24:])),
		metaAddr:  int64(le.Uint32(s[40:])) * blockSize,
		xattrAddr: int64(le.Uint32(s[44:])) * blockSize,
	}
	if f.metaAddr >= f.size {
		return nil, fmt.Errorf("%w: metadata block %d beyond %d blocks", ErrCorrupt, f.metaAddr/blockSize, blocks)
	}
	copy(f.uuid[:], s[48:64])
	f.volume = strings.TrimRight(string(s[64:80]), "\x00")
	root, err := f.inode(f.rootNid)
	if err != nil {
		return nil, fmt.Errorf("root inode: %w", err)
	}
	if root.mode&sIFMT != sIFDIR {
		return nil, fmt.Errorf("%w: root inode %d is not a directory", ErrCorrupt, f.rootNid)
	}
	return f, nil
}

func orEOF(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}

// UUID returns the volume UUID of the superblock.
func (f *FS) UUID() [16]byte { return f.uuid }

// Volume returns the volume label of the superblock.
func (f *FS) Volume() string { return f.volume }

// Size returns the bytes of the image: its block count × 4096.
func (f *FS) Size() int64 { return f.size }

// Inodes returns the inode count the superblock states.
func (f *FS) Inodes() uint64 { return f.inodes }

// readAt reads exactly len(b) bytes at off, which must lie in the image.
func (f *FS) readAt(b []byte, off int64, what string) error {
	if off < 0 || off > f.size || int64(len(b)) > f.size-off {
		return fmt.Errorf("%w: %s: %d bytes at %d lie beyond the %d-byte image", ErrCorrupt, what, len(b), off, f.size)
	}
	if n, err := f.r.ReadAt(b, off); n != len(b) {
		return fmt.Errorf("erofs: read %s at %d: %w", what, off, orEOF(err))
	}
	return nil
}

// rinode is one decoded inode.
type rinode struct {
	nid     uint64
	off     int64 // byte offset of the inode
	hdr     int64 // bytes of inode and xattr area: the inline tail follows
	layout  uint8
	mode    uint16
	size    uint64
	raw     uint32 // i_u: first block or rdev
	ino     uint32
	uid     uint32
	gid     uint32
	mtime   int64
	nsec    uint32
	nlink   uint32
	xicount uint16
	xoff    int64 // byte offset of the xattr area
}

func (f *FS) inode(nid uint64) (*rinode, error) {
	if nid > uint64(f.size)/32 {
		return nil, fmt.Errorf("%w: nid %d beyond the image", ErrCorrupt, nid)
	}
	off := f.metaAddr + int64(nid)*32
	var b [inodeSize]byte
	n := compactInodeSize
	if err := f.readAt(b[:n], off, "inode"); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	format := le.Uint16(b[0:])
	in := &rinode{nid: nid, off: off, layout: uint8(format>>1) & 7, xicount: le.Uint16(b[2:]), mode: le.Uint16(b[4:])}
	if format&^0xf != 0 {
		return nil, fmt.Errorf("%w: inode %d: i_format %#x", ErrUnsupported, nid, format)
	}
	if format&1 == 1 {
		n = inodeSize
		if err := f.readAt(b[:n], off, "inode"); err != nil {
			return nil, err
		}
		in.size = le.Uint64(b[8:])
		in.raw = le.Uint32(b[16:])
		in.ino = le.Uint32(b[20:])
		in.uid = le.Uint32(b[24:])
		in.gid = le.Uint32(b[28:])
		in.mtime = int64(le.Uint64(b[32:]))
		in.nsec = le.Uint32(b[40:])
		in.nlink = le.Uint32(b[44:])
	} else {
		in.nlink = uint32(le.Uint16(b[6:]))
		in.size = uint64(le.Uint32(b[8:]))
		in.raw = le.Uint32(b[16:])
		in.ino = le.Uint32(b[20:])
		in.uid = uint32(le.Uint16(b[24:]))
		in.gid = uint32(le.Uint16(b[26:]))
		in.mtime = f.epoch
	}
	in.xoff = off + int64(n)
	in.hdr = int64(n)
	if in.xicount > 0 {
		in.hdr += xattrHdrSize + int64(in.xicount-1)*4
	}
	switch in.layout {
	case layoutFlatPlain, layoutFlatInline:
	case layoutCompressedFull, layoutCompressedCompt:
		return nil, fmt.Errorf("%w: inode %d is compressed", ErrUnsupported, nid)
	case layoutChunkBased:
		return nil, fmt.Errorf("%w: inode %d is chunk-based", ErrUnsupported, nid)
	default:
		return nil, fmt.Errorf("%w: inode %d: data layout %d", ErrCorrupt, nid, in.layout)
	}
	switch in.mode & sIFMT {
	case sIFREG, sIFDIR, sIFLNK:
		if in.size > uint64(f.size) {
			return nil, fmt.Errorf("%w: inode %d: %d bytes in a %d-byte image", ErrCorrupt, nid, in.size, f.size)
		}
		if in.mode&sIFMT == sIFLNK && (in.size == 0 || in.size > maxLink) {
			return nil, fmt.Errorf("%w: inode %d: symlink of %d bytes", ErrCorrupt, nid, in.size)
		}
		if err := f.checkExtent(in); err != nil {
			return nil, err
		}
	case sIFCHR, sIFBLK, sIFIFO, sIFSOCK:
	default:
		return nil, fmt.Errorf("%w: inode %d: mode %#o", ErrCorrupt, nid, in.mode)
	}
	return in, nil
}

// blocks returns the whole blocks of in's data area and its inline tail.
func (in *rinode) blocks() (nblocks uint64, tail int64) {
	if in.layout == layoutFlatInline {
		return in.size / blockSize, int64(in.size % blockSize)
	}
	return (in.size + blockSize - 1) / blockSize, 0
}

// checkExtent refuses data outside the image and inline tails that cross
// their block, as the kernel does.
func (f *FS) checkExtent(in *rinode) error {
	nb, tail := in.blocks()
	if nb > 0 && in.raw != nullAddr && uint64(in.raw)+nb > uint64(f.size/blockSize) {
		return fmt.Errorf("%w: inode %d: blocks %d+%d beyond the image", ErrCorrupt, in.nid, in.raw, nb)
	}
	if in.layout == layoutFlatInline {
		start := in.off + in.hdr
		if start/blockSize != (start+tail-1)/blockSize && tail > 0 || start+tail > f.size {
			return fmt.Errorf("%w: inode %d: inline data crosses its block", ErrCorrupt, in.nid)
		}
	}
	return nil
}

// readData reads in's data at off into b (off+len(b) <= size).
func (f *FS) readData(in *rinode, b []byte, off int64) error {
	nb, _ := in.blocks()
	body := int64(nb) * blockSize
	for len(b) > 0 {
		if off < body {
			k := min(int64(len(b)), body-off)
			if in.raw == nullAddr {
				clear(b[:k])
			} else if err := f.readAt(b[:k], int64(in.raw)*blockSize+off, "file data"); err != nil {
				return err
			}
			b, off = b[k:], off+k
			continue
		}
		return f.readAt(b, in.off+in.hdr+off-body, "inline data")
	}
	return nil
}

// xattrs decodes in's inline and shared extended attributes.
func (f *FS) xattrs(in *rinode) (map[string]string, error) {
	if in.xicount == 0 {
		return nil, nil
	}
	area := make([]byte, in.hdr-(in.xoff-in.off))
	if err := f.readAt(area, in.xoff, "xattrs"); err != nil {
		return nil, err
	}
	shared := int(area[4])
	if xattrHdrSize+shared*4 > len(area) {
		return nil, fmt.Errorf("%w: inode %d: %d shared xattrs in a %d-byte area", ErrCorrupt, in.nid, shared, len(area))
	}
	m := map[string]string{}
	for i := range shared {
		id := binary.LittleEndian.Uint32(area[xattrHdrSize+i*4:])
		e := make([]byte, xattrEntrySize+255+65535)
		at := f.xattrAddr + int64(id)*4
		if err := f.readAt(e[:xattrEntrySize], at, "shared xattr"); err != nil {
			return nil, err
		}
		n := xattrEntrySize + int(e[0]) + int(binary.LittleEndian.Uint16(e[2:]))
		if err := f.readAt(e[:n], at, "shared xattr"); err != nil {
			return nil, err
		}
		if _, err := xattrEntry(e[:n], m, in.nid); err != nil {
			return nil, err
		}
	}
	for p := xattrHdrSize + shared*4; p < len(area); {
		n, err := xattrEntry(area[p:], m, in.nid)
		if err != nil {
			return nil, err
		}
		p += (n + 3) &^ 3
	}
	return m, nil
}

// xattrEntry decodes the entry at the start of b into m and returns its
// unpadded length.
func xattrEntry(b []byte, m map[string]string, nid uint64) (int, error) {
	if len(b) < xattrEntrySize {
		return 0, fmt.Errorf("%w: inode %d: truncated xattr entry", ErrCorrupt, nid)
	}
	nl, idx, vl := int(b[0]), b[1], int(binary.LittleEndian.Uint16(b[2:]))
	n := xattrEntrySize + nl + vl
	if n > len(b) {
		return 0, fmt.Errorf("%w: inode %d: xattr entry of %d bytes in %d", ErrCorrupt, nid, n, len(b))
	}
	var prefix string
	for _, p := range xattrPrefixes {
		if p.index == idx {
			prefix = p.prefix
		}
	}
	if prefix == "" {
		return 0, fmt.Errorf("%w: inode %d: xattr name index %d", ErrUnsupported, nid, idx)
	}
	m[prefix+string(b[xattrEntrySize:xattrEntrySize+nl])] = string(b[xattrEntrySize+nl : n])
	return n, nil
}

// direntry is one decoded directory entry.
type direntry struct {
	name string
	nid  uint64
	typ  uint8
}

// readDir decodes every entry of directory in, "." and ".." excluded, in
// the image's (sorted) order.
func (f *FS) readDir(in *rinode) ([]direntry, error) {
	var out []direntry
	block := make([]byte, blockSize)
	for off := uint64(0); off < in.size; off += blockSize {
		b := block[:min(blockSize, in.size-off)]
		if err := f.readData(in, b, int64(off)); err != nil {
			return nil, err
		}
		if len(b) < direntSize {
			return nil, fmt.Errorf("%w: directory inode %d: %d-byte block", ErrCorrupt, in.nid, len(b))
		}
		first := int(binary.LittleEndian.Uint16(b[8:]))
		if first%direntSize != 0 || first < direntSize || first > len(b) {
			return nil, fmt.Errorf("%w: directory inode %d: first name at %d", ErrCorrupt, in.nid, first)
		}
		count := first / direntSize
		for i := range count {
			e := b[i*direntSize:]
			start := int(binary.LittleEndian.Uint16(e[8:]))
			end := len(b)
			if i+1 < count {
				end = int(binary.LittleEndian.Uint16(b[(i+1)*direntSize+8:]))
			}
			if start < first || end > len(b) || start >= end {
				return nil, fmt.Errorf("%w: directory inode %d: name %d at %d..%d", ErrCorrupt, in.nid, i, start, end)
			}
			if i+1 == count {
				// The last name of a block runs to its end or to a NUL.
				if z := bytes.IndexByte(b[start:end], 0); z >= 0 {
					end = start + z
				}
				if start == end {
					return nil, fmt.Errorf("%w: directory inode %d: empty name", ErrCorrupt, in.nid)
				}
			}
			name := string(b[start:end])
			if name == "." || name == ".." {
				continue
			}
			if strings.ContainsAny(name, "/\x00") {
				return nil, fmt.Errorf("%w: directory inode %d: name %q", ErrCorrupt, in.nid, name)
			}
			out = append(out, direntry{name: name, nid: binary.LittleEndian.Uint64(e), typ: e[10]})
		}
	}
	return out, nil
}

// lookup finds name in directory in.
func (f *FS) lookup(in *rinode, name string) (uint64, error) {
	ents, err := f.readDir(in)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if e.name == name {
			return e.nid, nil
		}
	}
	return 0, fs.ErrNotExist
}

// resolve walks name from the root, following symbolic links in every
// component and, if follow, in the last one too.
func (f *FS) resolve(op, name string, follow bool) (*rinode, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	hops := 0
	var walk func(dir []string, rest []string) (*rinode, []string, error)
	walk = func(dir []string, rest []string) (*rinode, []string, error) {
		cur, err := f.inode(f.rootNid)
		if err != nil {
			return nil, nil, err
		}
		// Re-walk the directory prefix; it holds no symlinks any more.
		for _, c := range dir {
			nid, err := f.lookup(cur, c)
			if err != nil {
				return nil, nil, err
			}
			if cur, err = f.inode(nid); err != nil {
				return nil, nil, err
			}
		}
		for i, c := range rest {
			if cur.mode&sIFMT != sIFDIR {
				return nil, nil, fmt.Errorf("%w: not a directory", fs.ErrNotExist)
			}
			nid, err := f.lookup(cur, c)
			if err != nil {
				return nil, nil, err
			}
			next, err := f.inode(nid)
			if err != nil {
				return nil, nil, err
			}
			last := i == len(rest)-1
			if next.mode&sIFMT == sIFLNK && (!last || follow) {
				if hops++; hops > maxSymlinks {
					return nil, nil, fmt.Errorf("%w: too many levels of symbolic links", fs.ErrInvalid)
				}
				target, err := f.readLink(next)
				if err != nil {
					return nil, nil, err
				}
				base := dir
				if strings.HasPrefix(target, "/") {
					base = nil
				}
				parts := clean(append(append([]string(nil), base...), strings.Split(target, "/")...))
				return walk(nil, append(parts, rest[i+1:]...))
			}
			dir = append(dir, c)
			cur = next
		}
		return cur, dir, nil
	}
	var parts []string
	if name != "." {
		parts = strings.Split(name, "/")
	}
	in, _, err := walk(nil, parts)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return in, nil
}

// clean resolves "." and ".." in path components; ".." at the root stays
// at the root, as in a chroot.
func clean(parts []string) []string {
	out := parts[:0:0]
	for _, p := range parts {
		switch p {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, p)
		}
	}
	return out
}

func (f *FS) readLink(in *rinode) (string, error) {
	b := make([]byte, in.size)
	if err := f.readData(in, b, 0); err != nil {
		return "", err
	}
	return string(b), nil
}

// Open opens the named file or directory, following symbolic links.
func (f *FS) Open(name string) (fs.File, error) {
	in, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := f.info(path.Base(name), in)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if in.mode&sIFMT == sIFDIR {
		return &dir{f: f, in: in, fi: fi, path: name}, nil
	}
	return &file{f: f, in: in, fi: fi}, nil
}

// Stat returns the FileInfo of name, following symbolic links.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	in, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	return f.info(path.Base(name), in)
}

// Lstat returns the FileInfo of name without following a final symbolic
// link.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	in, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return f.info(path.Base(name), in)
}

// ReadLink returns the target of the symbolic link name.
func (f *FS) ReadLink(name string) (string, error) {
	in, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if in.mode&sIFMT != sIFLNK {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return f.readLink(in)
}

// ReadFile reads the whole named file. Its size must be at most max
// bytes: a bound the caller chooses, so a corrupt size never allocates.
func (f *FS) ReadFile(name string) ([]byte, error) {
	return f.ReadFileMax(name, 64<<20)
}

// ReadFileMax reads the whole named file, refusing one larger than max
// bytes with [ErrTooLarge].
func (f *FS) ReadFileMax(name string, max int64) ([]byte, error) {
	in, err := f.resolve("read", name, true)
	if err != nil {
		return nil, err
	}
	size := in.size
	switch in.mode & sIFMT {
	case sIFDIR:
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	case sIFREG:
	default: // devices, fifos and sockets read as empty, as their File does
		size = 0
	}
	if size > uint64(max) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: %d bytes (at most %d read)", ErrTooLarge, in.size, max)}
	}
	b := make([]byte, size)
	if err := f.readData(in, b, 0); err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// ReadDir reads the named directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	d, ok := file.(*dir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	return d.ReadDir(-1)
}

func (f *FS) info(name string, in *rinode) (*fileInfo, error) {
	xs, err := f.xattrs(in)
	if err != nil {
		return nil, err
	}
	if name == "." || name == "/" {
		name = "."
	}
	st := &Stat{Nid: in.nid, Ino: in.ino, UID: in.uid, GID: in.gid, Nlink: in.nlink, Xattrs: xs}
	if t := in.mode & sIFMT; t == sIFCHR || t == sIFBLK {
		st.Rdev = in.raw
	}
	return &fileInfo{name: name, in: in, st: st}, nil
}

type fileInfo struct {
	name string
	in   *rinode
	st   *Stat
}

func (i *fileInfo) Name() string { return i.name }
func (i *fileInfo) Size() int64 {
	if t := i.in.mode & sIFMT; t == sIFREG || t == sIFLNK || t == sIFDIR {
		return int64(i.in.size)
	}
	return 0
}
func (i *fileInfo) ModTime() time.Time { return time.Unix(i.in.mtime, int64(i.in.nsec%1e9)).UTC() }
func (i *fileInfo) IsDir() bool        { return i.in.mode&sIFMT == sIFDIR }
func (i *fileInfo) Sys() any           { return i.st }
func (i *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.in.mode & 0o777)
	if i.in.mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if i.in.mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if i.in.mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch i.in.mode & sIFMT {
	case sIFDIR:
		m |= fs.ModeDir
	case sIFLNK:
		m |= fs.ModeSymlink
	case sIFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case sIFBLK:
		m |= fs.ModeDevice
	case sIFIFO:
		m |= fs.ModeNamedPipe
	case sIFSOCK:
		m |= fs.ModeSocket
	}
	return m
}

// file is an open non-directory. It is an io.ReaderAt and io.Seeker too.
type file struct {
	f   *FS
	in  *rinode
	fi  *fileInfo
	off int64
}

func (x *file) Stat() (fs.FileInfo, error) { return x.fi, nil }
func (x *file) Close() error               { return nil }

func (x *file) size() int64 {
	if x.in.mode&sIFMT != sIFREG {
		return 0
	}
	return int64(x.in.size)
}

// ReadAt reads the file's bytes at off.
func (x *file) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: x.fi.name, Err: fs.ErrInvalid}
	}
	if off >= x.size() {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), x.size()-off))
	if err := x.f.readData(x.in, b[:n], off); err != nil {
		return 0, err
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (x *file) Read(b []byte) (int, error) {
	n, err := x.ReadAt(b, x.off)
	x.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read.
func (x *file) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += x.off
	case io.SeekEnd:
		off += x.size()
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "seek", Path: x.fi.name, Err: fs.ErrInvalid}
	}
	x.off = off
	return off, nil
}

// dir is an open directory.
type dir struct {
	f    *FS
	in   *rinode
	fi   *fileInfo
	path string
	ents []fs.DirEntry
	read bool
}

func (d *dir) Stat() (fs.FileInfo, error) { return d.fi, nil }
func (d *dir) Close() error               { return nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: fs.ErrInvalid}
}

// ReadDir returns the next n entries (all if n <= 0), sorted by name.
func (d *dir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		ents, err := d.f.readDir(d.in)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: d.path, Err: err}
		}
		for _, e := range ents {
			in, err := d.f.inode(e.nid)
			if err != nil {
				return nil, &fs.PathError{Op: "readdir", Path: path.Join(d.path, e.name), Err: err}
			}
			fi, err := d.f.info(e.name, in)
			if err != nil {
				return nil, &fs.PathError{Op: "readdir", Path: path.Join(d.path, e.name), Err: err}
			}
			d.ents = append(d.ents, fs.FileInfoToDirEntry(fi))
		}
		d.read = true
	}
	if n <= 0 {
		out := d.ents
		d.ents = nil
		return out, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.ents))
	out := d.ents[:k]
	d.ents = d.ents[k:]
	return out, nil
}
