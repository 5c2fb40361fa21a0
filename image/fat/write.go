package fat

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"unicode/utf16"

	"github.com/hardvm/hardvm/internal/epoch"
	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
)

const (
	sectorSize   = 512
	reserved     = 32 // sectors before the first FAT, as mkfs.fat
	numFATs      = 2
	minClusters  = 65525
	maxClusters  = 0x0FFFFFF5 - 2
	rootCluster  = 2
	endOfChain   = 0x0FFFFFFF
	attrReadOnly = 0x01
	attrHidden   = 0x02
	attrSystem   = 0x04
	attrVolumeID = 0x08
	attrDir      = 0x10
	attrArchive  = 0x20
	attrLongName = attrReadOnly | attrHidden | attrSystem | attrVolumeID
)

// Geometry is the layout of a FAT32 volume.
type Geometry struct {
	Sectors        uint32 // total sectors of 512 bytes
	SectorsPerClus uint32
	Reserved       uint32 // sectors before the first FAT
	FATSectors     uint32 // sectors of one FAT
	Clusters       uint32 // data clusters
}

func (g Geometry) clusterBytes() int64 { return int64(g.SectorsPerClus) * sectorSize }

// dataStart returns the byte offset of cluster 2.
func (g Geometry) dataStart() int64 {
	return int64(g.Reserved+numFATs*g.FATSectors) * sectorSize
}

func (g Geometry) clusterOffset(c uint32) int64 {
	return g.dataStart() + int64(c-2)*g.clusterBytes()
}

// geometry lays out a volume of size bytes.
func geometry(size int64, clusterSz int) (Geometry, error) {
	if size/sectorSize > 1<<32-1 {
		return Geometry{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	g := Geometry{Sectors: uint32(size / sectorSize)}
	if clusterSz == 0 {
		switch {
		case size <= 260<<20:
			clusterSz = 512
		case size <= 8<<30:
			clusterSz = 4 << 10
		case size <= 16<<30:
			clusterSz = 8 << 10
		case size <= 32<<30:
			clusterSz = 16 << 10
		default:
			clusterSz = 32 << 10
		}
	}
	g.SectorsPerClus = uint32(clusterSz / sectorSize)
	// As mkfs.fat: reserved sectors and FAT length rounded up to whole
	// clusters so that the data area starts on a cluster boundary, and the
	// cluster count from its closed form.
	spc := int64(g.SectorsPerClus)
	g.Reserved = uint32((reserved + spc - 1) / spc * spc)
	if int64(g.Sectors) <= int64(g.Reserved)+numFATs*spc {
		return Geometry{}, fmt.Errorf("%w: %d bytes", ErrTooSmall, size)
	}
	data := int64(g.Sectors) - int64(g.Reserved)
	clusters := (data*sectorSize + numFATs*8) / (spc*sectorSize + numFATs*4)
	fat := ((clusters+2)*4 + sectorSize - 1) / sectorSize
	g.FATSectors = uint32((fat + spc - 1) / spc * spc)
	if data <= numFATs*int64(g.FATSectors) {
		return Geometry{}, fmt.Errorf("%w: %d bytes", ErrTooSmall, size)
	}
	g.Clusters = uint32((data - numFATs*int64(g.FATSectors)) / spc)
	if int64(g.Clusters+2)*4 > int64(g.FATSectors)*sectorSize {
		return Geometry{}, fmt.Errorf("fat: internal error: FAT of %d sectors for %d clusters", g.FATSectors, g.Clusters)
	}
	if g.Clusters < minClusters {
		return Geometry{}, fmt.Errorf("%w: %d bytes give %d clusters of %d bytes, FAT32 needs %d", ErrTooSmall, size, g.Clusters, clusterSz, minClusters)
	}
	if g.Clusters > maxClusters {
		return Geometry{}, fmt.Errorf("%w: %d clusters", ErrTooLarge, g.Clusters)
	}
	return g, nil
}

// entry is a file or directory of the volume.
type entry struct {
	path     string
	name     string
	dir      bool
	size     int64
	kids     []*entry
	parent   *entry
	short    [11]byte
	long     bool // needs long-name entries
	cluster  uint32
	clusters uint32
}

// dirBytes returns the size of a directory's entries.
func (e *entry) dirBytes(label bool) int64 {
	n := 0
	if e.parent != nil {
		n += 2 // . and ..
	} else if label {
		n++
	}
	for _, k := range e.kids {
		n++
		if k.long {
			n += (len(utf16.Encode([]rune(k.name))) + 12) / 13
		}
	}
	return int64(n) * 32
}

// Write writes a FAT32 file system of size bytes holding the files and
// directories of src to dst at offset 0. dst must read as zeros where
// Write does not write (a new file or a fresh region of one): free space
// and all-zero blocks are left unwritten, so they stay holes.
func Write(ctx context.Context, dst io.WriterAt, size int64, src fs.FS, opts ...Option) (Geometry, error) {
	o := defaults()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Geometry{}, err
		}
	}
	g, err := geometry(size, o.clusterSz)
	if err != nil {
		return Geometry{}, err
	}
	root, all, total, err := scan(ctx, src)
	if err != nil {
		return Geometry{}, err
	}
	label := o.label != "NO NAME"
	// Allocate clusters contiguously in walk order, the root first.
	next := uint32(rootCluster)
	for _, e := range all {
		n := e.size
		if e.dir {
			n = e.dirBytes(label && e == root)
		}
		e.clusters = uint32((n + g.clusterBytes() - 1) / g.clusterBytes())
		if e.dir && e.clusters == 0 {
			e.clusters = 1
		}
		if e.clusters == 0 {
			continue
		}
		if int64(next)+int64(e.clusters) > int64(g.Clusters)+2 {
			return Geometry{}, fmt.Errorf("%w: %d bytes do not hold %s", ErrTooSmall, size, e.path)
		}
		e.cluster = next
		next += e.clusters
	}
	used := next - 2
	volID := o.volumeID
	if !o.hasVolID {
		volID = deriveVolumeID(all, o.epoch, o.label)
	}
	o.log.Debug("fat: layout", "clusters", g.Clusters, "used", used, "cluster_bytes", g.clusterBytes())

	ts := dosTime(o.epoch)
	if err := writeReserved(dst, g, used, next, volID, &o); err != nil {
		return Geometry{}, err
	}
	if err := writeFATs(dst, g, all); err != nil {
		return Geometry{}, err
	}
	for _, e := range all {
		if e.dir {
			if err := writeDir(dst, g, e, ts, label, o.label); err != nil {
				return Geometry{}, &PathError{Path: e.path, Err: err}
			}
		}
	}
	c := progress.NewCounter(o.progress, "fat", total)
	buf := make([]byte, 256<<10)
	for _, e := range all {
		if e.dir || e.size == 0 {
			continue
		}
		if err := copyFile(ctx, dst, g, src, e, buf, c); err != nil {
			return Geometry{}, &PathError{Path: e.path, Err: err}
		}
	}
	c.Done()
	// Give the volume its full length: write its last sector unless a
	// directory or file already did (writeSparse never skips it).
	if end := int64(g.Sectors) * sectorSize; g.clusterOffset(next) < end {
		if _, err := dst.WriteAt(make([]byte, sectorSize), end-sectorSize); err != nil {
			return Geometry{}, fmt.Errorf("fat: %w", err)
		}
	}
	return g, nil
}

// scan walks src into a tree; it returns the root, every entry in walk
// order and the bytes of file data.
func scan(ctx context.Context, src fs.FS) (*entry, []*entry, int64, error) {
	root := &entry{path: ".", dir: true}
	dirs := map[string]*entry{".": root}
	all := []*entry{root}
	var total int64
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return &PathError{Path: p, Err: err}
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			return &PathError{Path: p, Err: fmt.Errorf("%w: %v", ErrFileType, fi.Mode())}
		}
		if fi.Size() > 1<<32-1 {
			return &PathError{Path: p, Err: fmt.Errorf("%w: file of %d bytes", ErrTooLarge, fi.Size())}
		}
		e := &entry{path: p, name: path.Base(p), dir: fi.IsDir(), parent: dirs[path.Dir(p)]}
		if err := checkName(e.name); err != nil {
			return &PathError{Path: p, Err: err}
		}
		if !e.dir {
			e.size = fi.Size()
			total += e.size
		} else {
			dirs[p] = e
		}
		e.parent.kids = append(e.parent.kids, e)
		all = append(all, e)
		return nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	for _, d := range all {
		if !d.dir {
			continue
		}
		if err := nameKids(d); err != nil {
			return nil, nil, 0, &PathError{Path: d.path, Err: err}
		}
	}
	return root, all, total, nil
}

// nameKids gives every child of d its short name, plain names first so
// that aliases never take them.
func nameKids(d *entry) error {
	used := map[[11]byte]bool{}
	folded := map[string]string{}
	for _, k := range d.kids {
		f := strings.ToUpper(k.name)
		if other, ok := folded[f]; ok {
			return fmt.Errorf("%w: %q and %q differ only in case", ErrName, other, k.name)
		}
		folded[f] = k.name
		if s, ok := plainShort(k.name); ok {
			k.short = s
			used[s] = true
		} else {
			k.long = true
		}
	}
	for _, k := range d.kids {
		if !k.long {
			continue
		}
		s, err := aliasShort(k.name, used)
		if err != nil {
			return err
		}
		k.short = s
		used[s] = true
	}
	return nil
}

func deriveVolumeID(all []*entry, epoch int64, label string) uint32 {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00", epoch, label)
	for _, e := range all {
		fmt.Fprintf(h, "%s\x00%t %d\x00", e.path, e.dir, e.size)
	}
	return binary.LittleEndian.Uint32(h.Sum(nil))
}

// dosStamp is a FAT date and time.
type dosStamp struct{ date, time uint16 }

func dosTime(sec int64) dosStamp {
	t := epoch.Time(sec)
	switch {
	case t.Year() < 1980:
		return dosStamp{date: 1<<5 | 1}
	case t.Year() > 2107:
		return dosStamp{date: 127<<9 | 12<<5 | 31, time: 23<<11 | 59<<5 | 29}
	}
	return dosStamp{
		date: uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day()),
		time: uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2),
	}
}

// writeReserved writes the boot sector, FSInfo and their backups.
func writeReserved(dst io.WriterAt, g Geometry, used, next, volID uint32, o *options) error {
	b := make([]byte, 3*sectorSize)
	le := binary.LittleEndian
	copy(b[0:], []byte{0xEB, 0x58, 0x90})
	copy(b[3:11], "MSWIN4.1")
	le.PutUint16(b[11:], sectorSize)
	b[13] = byte(g.SectorsPerClus)
	le.PutUint16(b[14:], uint16(g.Reserved))
	b[16] = numFATs
	b[21] = 0xF8             // fixed disk
	le.PutUint16(b[24:], 32) // sectors per track, as mkfs.fat for images
	le.PutUint16(b[26:], 64) // heads
	le.PutUint32(b[28:], o.hidden)
	le.PutUint32(b[32:], g.Sectors)
	le.PutUint32(b[36:], g.FATSectors)
	le.PutUint32(b[44:], rootCluster)
	le.PutUint16(b[48:], 1) // FSInfo sector
	le.PutUint16(b[50:], 6) // backup boot sector
	b[64] = 0x80
	b[66] = 0x29
	le.PutUint32(b[67:], volID)
	copy(b[71:82], fmt.Sprintf("%-11s", o.label))
	copy(b[82:90], "FAT32   ")
	// Not bootable: int 18h asks the BIOS for the next boot device.
	copy(b[90:], []byte{0xCD, 0x18, 0xEB, 0xFE})
	b[510], b[511] = 0x55, 0xAA
	fsi := b[sectorSize:]
	le.PutUint32(fsi[0:], 0x41615252)
	le.PutUint32(fsi[484:], 0x61417272)
	le.PutUint32(fsi[488:], g.Clusters-used)
	le.PutUint32(fsi[492:], next)
	le.PutUint32(fsi[508:], 0xAA550000)
	b[2*sectorSize+510], b[2*sectorSize+511] = 0x55, 0xAA
	for _, at := range []int64{0, 6 * sectorSize} {
		if _, err := dst.WriteAt(b, at); err != nil {
			return fmt.Errorf("fat: write boot sector: %w", err)
		}
	}
	return nil
}

// writeFATs writes both FATs, leaving zero (free) blocks unwritten.
func writeFATs(dst io.WriterAt, g Geometry, all []*entry) error {
	fat := make([]byte, int64(g.FATSectors)*sectorSize)
	le := binary.LittleEndian
	le.PutUint32(fat[0:], 0x0FFFFF00|0xF8)
	le.PutUint32(fat[4:], endOfChain)
	for _, e := range all {
		for i := range e.clusters {
			c := e.cluster + i
			v := uint32(endOfChain)
			if i+1 < e.clusters {
				v = c + 1
			}
			le.PutUint32(fat[4*c:], v)
		}
	}
	for n := range uint32(numFATs) {
		at := int64(g.Reserved+n*g.FATSectors) * sectorSize
		if err := writeSparse(dst, fat, at, int64(g.Sectors)*sectorSize); err != nil {
			return fmt.Errorf("fat: write FAT %d: %w", n+1, err)
		}
	}
	return nil
}

// writeSparse writes b at off, skipping all-zero 4 KiB blocks except one
// that reaches end, the end of the volume.
func writeSparse(dst io.WriterAt, b []byte, off, end int64) error {
	for i := 0; i < len(b); i += 4096 {
		chunk := b[i:min(i+4096, len(b))]
		if off+int64(i+len(chunk)) < end && sparse.IsZero(chunk) {
			continue
		}
		if _, err := dst.WriteAt(chunk, off+int64(i)); err != nil {
			return err
		}
	}
	return nil
}

func shortEntry(name [11]byte, attr byte, cluster uint32, size uint32, ts dosStamp) [32]byte {
	var e [32]byte
	le := binary.LittleEndian
	copy(e[0:11], name[:])
	e[11] = attr
	le.PutUint16(e[14:], ts.time)
	le.PutUint16(e[16:], ts.date)
	le.PutUint16(e[18:], ts.date)
	le.PutUint16(e[20:], uint16(cluster>>16))
	le.PutUint16(e[22:], ts.time)
	le.PutUint16(e[24:], ts.date)
	le.PutUint16(e[26:], uint16(cluster))
	le.PutUint32(e[28:], size)
	return e
}

// writeDir writes the entries of directory d into its clusters.
func writeDir(dst io.WriterAt, g Geometry, d *entry, ts dosStamp, label bool, labelText string) error {
	b := make([]byte, int64(d.clusters)*g.clusterBytes())
	off := 0
	put := func(e [32]byte) { off += copy(b[off:], e[:]) }
	if d.parent == nil {
		if label {
			var l [11]byte
			copy(l[:], fmt.Sprintf("%-11s", labelText))
			put(shortEntry(l, attrVolumeID, 0, 0, ts))
		}
	} else {
		var dot, dotdot [11]byte
		copy(dot[:], ".          ")
		copy(dotdot[:], "..         ")
		put(shortEntry(dot, attrDir, d.cluster, 0, ts))
		parent := d.parent.cluster
		if d.parent.parent == nil {
			parent = 0 // the root is cluster 0 in ".."
		}
		put(shortEntry(dotdot, attrDir, parent, 0, ts))
	}
	for _, k := range d.kids {
		if k.long {
			for _, l := range longEntries(k.name, k.short) {
				put(l)
			}
		}
		attr := byte(attrArchive)
		if k.dir {
			attr = attrDir
		}
		put(shortEntry(k.short, attr, k.cluster, uint32(k.size), ts))
	}
	_, err := dst.WriteAt(b, g.clusterOffset(d.cluster))
	return err
}

func copyFile(ctx context.Context, dst io.WriterAt, g Geometry, src fs.FS, e *entry, buf []byte, c *progress.Counter) error {
	f, err := src.Open(e.path)
	if err != nil {
		return err
	}
	defer f.Close()
	at := g.clusterOffset(e.cluster)
	for done := int64(0); done < e.size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := int(min(int64(len(buf)), e.size-done))
		if _, err := io.ReadFull(f, buf[:k]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: short read at %d of %d bytes", ErrSizeChanged, done, e.size)
			}
			return err
		}
		if err := writeSparse(dst, buf[:k], at+done, int64(g.Sectors)*sectorSize); err != nil {
			return err
		}
		done += int64(k)
		c.Add(int64(k))
	}
	var one [1]byte
	if n, _ := io.ReadFull(f, one[:]); n != 0 {
		return fmt.Errorf("%w: more than %d bytes", ErrSizeChanged, e.size)
	}
	return nil
}
