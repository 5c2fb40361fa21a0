package bootdisk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// fat32 is a FAT32 volume read only as far as finding and reading one file
// by its 8.3 names.
type fat32 struct {
	r           io.ReaderAt
	size        int64
	sector      int64
	cluster     int64 // bytes
	fatOff      int64 // byte offset of the first FAT
	dataOff     int64 // byte offset of cluster 2
	clusters    uint32
	rootCluster uint32
}

// errNotFound reports a path the volume does not hold.
var errNotFound = errors.New("bootdisk: not found on the ESP")

// maxDirBytes bounds a directory: FAT allows 65536 entries of 32 bytes.
const maxDirBytes = 65536 * 32

func openFAT32(r io.ReaderAt, size int64) (*fat32, error) {
	b := make([]byte, 512)
	if n, err := r.ReadAt(b, 0); n != len(b) {
		return nil, fmt.Errorf("%w: boot sector: %v", ErrESP, err)
	}
	le := binary.LittleEndian
	if b[510] != 0x55 || b[511] != 0xaa {
		return nil, fmt.Errorf("%w: no boot sector signature", ErrESP)
	}
	f := &fat32{r: r, size: size, sector: int64(le.Uint16(b[11:]))}
	spc := int64(b[13])
	reserved := int64(le.Uint16(b[14:]))
	nfats := int64(b[16])
	total := int64(le.Uint16(b[19:]))
	if total == 0 {
		total = int64(le.Uint32(b[32:]))
	}
	fatSize := int64(le.Uint32(b[36:]))
	switch {
	case f.sector != 512 && f.sector != 1024 && f.sector != 2048 && f.sector != 4096:
		return nil, fmt.Errorf("%w: %d-byte sectors", ErrESP, f.sector)
	case spc == 0 || spc&(spc-1) != 0:
		return nil, fmt.Errorf("%w: %d sectors per cluster", ErrESP, spc)
	case le.Uint16(b[17:]) != 0 || le.Uint16(b[22:]) != 0 || fatSize == 0:
		return nil, fmt.Errorf("%w: not FAT32 (root entries %d, FAT16 size %d)", ErrESP, le.Uint16(b[17:]), le.Uint16(b[22:]))
	case reserved == 0 || nfats == 0 || total*f.sector > size:
		return nil, fmt.Errorf("%w: geometry: %d reserved, %d FATs, %d sectors in %d bytes", ErrESP, reserved, nfats, total, size)
	}
	f.cluster = spc * f.sector
	f.fatOff = reserved * f.sector
	first := reserved + nfats*fatSize
	if first >= total {
		return nil, fmt.Errorf("%w: no data area", ErrESP)
	}
	f.dataOff = first * f.sector
	f.clusters = uint32(min((total-first)/spc, fatSize*f.sector/4-2, 0x0ffffff5))
	f.rootCluster = le.Uint32(b[44:])
	return f, nil
}

// next returns the cluster after c in its chain, or 0 at its end.
func (f *fat32) next(c uint32) (uint32, error) {
	var b [4]byte
	if n, err := f.r.ReadAt(b[:], f.fatOff+int64(c)*4); n != 4 {
		return 0, fmt.Errorf("%w: FAT entry %d: %v", ErrESP, c, err)
	}
	v := binary.LittleEndian.Uint32(b[:]) & 0x0fffffff
	switch {
	case v >= 0x0ffffff8:
		return 0, nil
	case v < 2 || v >= f.clusters+2:
		return 0, fmt.Errorf("%w: cluster %d links to %#x", ErrESP, c, v)
	}
	return v, nil
}

// chain returns the clusters of a chain starting at c, at most max bytes
// of them.
func (f *fat32) chain(c uint32, max int64) ([]uint32, error) {
	var out []uint32
	for c != 0 {
		if c < 2 || c >= f.clusters+2 {
			return nil, fmt.Errorf("%w: cluster %d out of range", ErrESP, c)
		}
		if int64(len(out))*f.cluster >= max {
			return nil, fmt.Errorf("%w: cluster chain longer than %d bytes", ErrESP, max)
		}
		out = append(out, c)
		var err error
		if c, err = f.next(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fatFile is the bytes of a file's cluster chain.
type fatFile struct {
	f        *fat32
	clusters []uint32
	size     int64
}

func (x *fatFile) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", ErrESP)
	}
	n := 0
	for n < len(b) {
		if off >= x.size {
			return n, io.EOF
		}
		c := x.clusters[off/x.f.cluster]
		in := off % x.f.cluster
		k := int(min(int64(len(b)-n), x.f.cluster-in, x.size-off))
		at := x.f.dataOff + int64(c-2)*x.f.cluster + in
		if m, err := x.f.r.ReadAt(b[n:n+k], at); m != k {
			return n + m, fmt.Errorf("%w: read cluster %d: %v", ErrESP, c, err)
		}
		n += k
		off += int64(k)
	}
	return n, nil
}

// shortName returns the 11-byte directory name of an 8.3 name, upper case.
func shortName(name string) (string, bool) {
	base, ext, _ := strings.Cut(strings.ToUpper(name), ".")
	if base == "" || len(base) > 8 || len(ext) > 3 || strings.ContainsAny(base+ext, ". /") {
		return "", false
	}
	return fmt.Sprintf("%-8s%-3s", base, ext), true
}

// open finds the file at a slash-separated path of 8.3 names (matched
// without regard to case, as FAT does) and returns its bytes, at most max.
func (f *fat32) open(path string, max int64) (*fatFile, error) {
	cur := f.rootCluster
	parts := strings.Split(path, "/")
	for i, p := range parts {
		want, ok := shortName(p)
		if !ok {
			return nil, fmt.Errorf("%w: %q is not an 8.3 name", ErrESP, p)
		}
		clusters, err := f.chain(cur, maxDirBytes)
		if err != nil {
			return nil, err
		}
		dir := &fatFile{f: f, clusters: clusters, size: int64(len(clusters)) * f.cluster}
		found := false
		var e [32]byte
		for off := int64(0); off < dir.size && !found; off += 32 {
			if _, err := dir.ReadAt(e[:], off); err != nil {
				return nil, err
			}
			if e[0] == 0 {
				break
			}
			attr := e[11]
			if e[0] == 0xe5 || attr&0x0f == 0x0f || attr&0x08 != 0 || string(e[:11]) != want {
				continue
			}
			found = true
			le := binary.LittleEndian
			c := uint32(le.Uint16(e[20:]))<<16 | uint32(le.Uint16(e[26:]))
			isDir := attr&0x10 != 0
			last := i == len(parts)-1
			switch {
			case last && isDir, !last && !isDir:
				return nil, fmt.Errorf("%w: %s: wrong type", ErrESP, strings.Join(parts[:i+1], "/"))
			case !last:
				cur = c
			default:
				size := int64(le.Uint32(e[28:]))
				if size > max {
					return nil, fmt.Errorf("%w: %s: %d bytes (at most %d)", ErrESP, path, size, max)
				}
				var cl []uint32
				if size > 0 {
					if cl, err = f.chain(c, size); err != nil {
						return nil, err
					}
					if int64(len(cl))*f.cluster < size {
						return nil, fmt.Errorf("%w: %s: %d clusters hold less than %d bytes", ErrESP, path, len(cl), size)
					}
				}
				return &fatFile{f: f, clusters: cl, size: size}, nil
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: no %s", errNotFound, strings.Join(parts[:i+1], "/"))
		}
	}
	return nil, fmt.Errorf("%w: empty path", ErrESP)
}
