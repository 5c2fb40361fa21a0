package erofs

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// On-disk constants (linux/fs/erofs/erofs_fs.h).
const (
	blockSize      = 4096
	blockBits      = 12
	superOffset    = 1024
	inodeSize      = 64 // extended inode
	direntSize     = 12
	xattrHdrSize   = 12
	xattrEntrySize = 4
	metaBlkAddr    = 1 // metadata starts right after the superblock block

	layoutFlatPlain  = 0
	layoutFlatInline = 2
)

// direntGroup is the entries of one directory block.
type direntGroup []dirent

// direntBlocks packs the entries of directory n (with "." and "..") into
// blocks, sorted by name as EROFS requires.
func direntBlocks(n *node) []direntGroup {
	all := make([]dirent, 0, len(n.kids)+2)
	all = append(all, dirent{".", n}, dirent{"..", n.parent})
	all = append(all, n.kids...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].name < all[j].name })
	var groups []direntGroup
	for len(all) > 0 {
		used, k := 0, 0
		for k < len(all) && used+direntSize+len(all[k].name) <= blockSize {
			used += direntSize + len(all[k].name)
			k++
		}
		groups = append(groups, direntGroup(all[:k]))
		all = all[k:]
	}
	return groups
}

// bytes returns the used length of a directory block.
func (g direntGroup) bytes() int {
	n := len(g) * direntSize
	for _, d := range g {
		n += len(d.name)
	}
	return n
}

// encode writes the block into b (len >= bytes()).
func (g direntGroup) encode(b []byte) {
	off := len(g) * direntSize
	for i, d := range g {
		e := b[i*direntSize:]
		binary.LittleEndian.PutUint64(e[0:8], d.n.nid)
		binary.LittleEndian.PutUint16(e[8:10], uint16(off))
		e[10] = d.n.fileType()
		e[11] = 0
		off += copy(b[off:], d.name)
	}
}

// dirSize returns the i_size of a directory: whole blocks for all but the
// last group, then the used part of the last.
func dirSize(groups []direntGroup) uint64 {
	return uint64(len(groups)-1)*blockSize + uint64(groups[len(groups)-1].bytes())
}

// xattrAreaSize returns the bytes of the inline xattr area of n.
func xattrAreaSize(xs []xattr) int {
	if len(xs) == 0 {
		return 0
	}
	n := xattrHdrSize
	for _, x := range xs {
		n += (xattrEntrySize + len(x.suffix) + len(x.value) + 3) &^ 3
	}
	return n
}

// plan assigns inode numbers, nids, layouts and data blocks. It returns the
// number of metadata blocks and the total number of blocks of the image.
func (t *tree) plan() (metaBlocks, total uint64, err error) {
	// Directory sizes first: they decide layouts.
	for _, n := range t.nodes {
		if n.typ() == sIFDIR {
			n.size = dirSize(direntBlocks(n))
		}
	}
	var off uint64 // byte offset inside the metadata area
	for i, n := range t.nodes {
		n.ino = uint32(i + 1)
		n.xsize = xattrAreaSize(n.xattrs)
		if n.xsize > 4+65535*4 {
			return 0, 0, &PathError{Path: n.path, Err: fmt.Errorf("%w: %d bytes of xattrs", ErrXattrTooLarge, n.xsize)}
		}
		hdr := uint64(inodeSize + n.xsize)
		n.layout = layoutFlatPlain
		n.tail = 0
		n.nblocks = 0
		switch n.typ() {
		case sIFREG, sIFDIR, sIFLNK:
			tail := n.size % blockSize
			if tail != 0 && hdr+tail <= blockSize {
				n.layout = layoutFlatInline
				n.tail = int(tail)
				n.nblocks = uint32(n.size / blockSize)
			} else {
				blocks := (n.size + blockSize - 1) / blockSize
				if blocks > 1<<32-1 {
					return 0, 0, &PathError{Path: n.path, Err: fmt.Errorf("%w: %d bytes", ErrTooLarge, n.size)}
				}
				n.nblocks = uint32(blocks)
			}
		}
		// Keep an inode with its xattrs and inline tail inside one block.
		need := hdr + uint64(n.tail)
		if need <= blockSize && off%blockSize+need > blockSize {
			off = (off + blockSize - 1) &^ (blockSize - 1)
		}
		n.nid = off / 32
		off += (need + 31) &^ 31
	}
	if t.nodes[0].nid != 0 {
		return 0, 0, fmt.Errorf("%w: root nid %d", ErrTooLarge, t.nodes[0].nid)
	}
	metaBlocks = (off + blockSize - 1) / blockSize
	next := metaBlkAddr + metaBlocks
	for _, n := range t.nodes {
		if n.nblocks > 0 {
			n.blkaddr = uint32(next)
			next += uint64(n.nblocks)
		}
	}
	if next > 1<<32-1 {
		return 0, 0, fmt.Errorf("%w: %d blocks", ErrTooLarge, next)
	}
	return metaBlocks, next, nil
}

// inodeOffset returns the byte offset of n's inode in the image.
func inodeOffset(n *node) int64 { return metaBlkAddr*blockSize + int64(n.nid)*32 }

// encodeInode writes n's extended inode and xattr area into b.
func encodeInode(b []byte, n *node) {
	clear(b[:inodeSize+n.xsize])
	binary.LittleEndian.PutUint16(b[0:2], 1|uint16(n.layout)<<1)
	if n.xsize > 0 {
		binary.LittleEndian.PutUint16(b[2:4], uint16((n.xsize-xattrHdrSize)/4+1))
	}
	binary.LittleEndian.PutUint16(b[4:6], n.mode)
	binary.LittleEndian.PutUint64(b[8:16], n.size)
	switch n.typ() {
	case sIFCHR, sIFBLK:
		binary.LittleEndian.PutUint32(b[16:20], n.rdev)
	case sIFREG, sIFDIR, sIFLNK:
		binary.LittleEndian.PutUint32(b[16:20], n.blkaddr)
	}
	binary.LittleEndian.PutUint32(b[20:24], n.ino)
	binary.LittleEndian.PutUint32(b[24:28], n.uid)
	binary.LittleEndian.PutUint32(b[28:32], n.gid)
	binary.LittleEndian.PutUint64(b[32:40], uint64(n.mtime))
	binary.LittleEndian.PutUint32(b[44:48], n.nlink)
	if n.xsize == 0 {
		return
	}
	x := b[inodeSize:]
	// Header: name filter (unused without the xattr filter feature), no
	// shared xattrs.
	off := xattrHdrSize
	for _, a := range n.xattrs {
		x[off] = uint8(len(a.suffix))
		x[off+1] = a.index
		binary.LittleEndian.PutUint16(x[off+2:], uint16(len(a.value)))
		p := off + xattrEntrySize
		p += copy(x[p:], a.suffix)
		p += copy(x[p:], a.value)
		off = (p + 3) &^ 3
	}
}
