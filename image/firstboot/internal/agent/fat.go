package agent

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// FAT12/16/32 volumes (Microsoft's FAT specification), as mkfs.fat,
// mtools and hardvm's own image/fat write them: long (VFAT) names with
// their checksums, else the 8.3 name in lower case.
type fatVolume struct {
	r           io.ReaderAt
	size        int64
	bps         int64 // bytes per sector
	spc         int64 // sectors per cluster
	fatStart    int64 // byte offset of the first FAT
	rootStart   int64 // FAT12/16: byte offset of the fixed root directory
	rootBytes   int64 // FAT12/16: its size
	dataStart   int64 // byte offset of cluster 2
	clusters    uint32
	bits        int // 12, 16 or 32
	rootCluster uint32
	vlabel      string
}

type fatEntry struct {
	name    string
	dir     bool
	cluster uint32
	size    int64
}

func openFAT(r io.ReaderAt, size int64) (*fatVolume, error) {
	bs, err := readAt(r, 0, 512)
	if err != nil {
		return nil, errNotThisFS
	}
	if bs[510] != 0x55 || bs[511] != 0xAA || (bs[0] != 0xEB && bs[0] != 0xE9) {
		return nil, errNotThisFS
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(bs[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(bs[o:])) }
	v := &fatVolume{r: r, size: size, bps: le16(11), spc: int64(bs[13])}
	if v.bps != 512 && v.bps != 1024 && v.bps != 2048 && v.bps != 4096 || v.spc == 0 || v.spc&(v.spc-1) != 0 {
		return nil, errNotThisFS
	}
	reserved, nfats, rootEnts := le16(14), int64(bs[16]), le16(17)
	total := le16(19)
	if total == 0 {
		total = le32(32)
	}
	fatSz := le16(22)
	if fatSz == 0 {
		fatSz = le32(36)
	}
	if reserved == 0 || nfats == 0 || fatSz == 0 || total == 0 {
		return nil, errNotThisFS
	}
	rootSecs := (rootEnts*32 + v.bps - 1) / v.bps
	dataSec := reserved + nfats*fatSz + rootSecs
	if dataSec >= total || total*v.bps > size {
		return nil, fmt.Errorf("%w: fat: geometry beyond the volume (%d sectors of %d bytes in %d)", ErrMalformed, total, v.bps, size)
	}
	v.clusters = uint32((total - dataSec) / v.spc)
	switch {
	case v.clusters < 4085:
		v.bits = 12
	case v.clusters < 65525:
		v.bits = 16
	default:
		v.bits = 32
	}
	v.fatStart = reserved * v.bps
	v.rootStart = (reserved + nfats*fatSz) * v.bps
	v.rootBytes = rootSecs * v.bps
	v.dataStart = dataSec * v.bps
	if int64(v.clusters+2)*int64(v.bits)/8 > fatSz*v.bps {
		return nil, fmt.Errorf("%w: fat: FAT too small for %d clusters", ErrMalformed, v.clusters)
	}
	lblOff := 43
	if v.bits == 32 {
		v.rootCluster = uint32(le32(44))
		lblOff = 71
		if rootEnts != 0 {
			return nil, fmt.Errorf("%w: fat32 with a fixed root directory", ErrMalformed)
		}
	}
	v.vlabel = strings.TrimRight(string(bs[lblOff:lblOff+11]), " ")
	// The label in the root directory wins, as blkid has it.
	raw, err := v.rootDir()
	if err != nil {
		return nil, err
	}
	for i := 0; i+32 <= len(raw) && raw[i] != 0; i += 32 {
		e := raw[i : i+32]
		if e[0] != 0xE5 && e[11]&0x3F == 0x08 {
			v.vlabel = strings.TrimRight(string(e[:11]), " ")
			break
		}
	}
	if v.vlabel == "NO NAME" {
		v.vlabel = ""
	}
	return v, nil
}

func (v *fatVolume) label() string { return v.vlabel }

// next returns the FAT entry of cluster c.
func (v *fatVolume) next(c uint32) (uint32, error) {
	switch v.bits {
	case 12:
		b, err := readAt(v.r, v.fatStart+int64(c)+int64(c)/2, 2)
		if err != nil {
			return 0, err
		}
		x := uint32(binary.LittleEndian.Uint16(b))
		if c&1 == 1 {
			x >>= 4
		}
		return x & 0xFFF, nil
	case 16:
		b, err := readAt(v.r, v.fatStart+int64(c)*2, 2)
		if err != nil {
			return 0, err
		}
		return uint32(binary.LittleEndian.Uint16(b)), nil
	}
	b, err := readAt(v.r, v.fatStart+int64(c)*4, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b) & 0x0FFFFFFF, nil
}

func (v *fatVolume) isEnd(x uint32) bool {
	switch v.bits {
	case 12:
		return x >= 0xFF8
	case 16:
		return x >= 0xFFF8
	}
	return x >= 0x0FFFFFF8
}

// readChain reads n bytes (n < 0: the whole chain, at most limit) from the
// cluster chain starting at c.
func (v *fatVolume) readChain(c uint32, n, limit int64) ([]byte, error) {
	cb := v.bps * v.spc
	var out []byte
	for steps := uint32(0); ; steps++ {
		if n >= 0 && int64(len(out)) >= n {
			return out[:n], nil
		}
		if n < 0 && v.isEnd(c) {
			return out, nil
		}
		if c < 2 || c >= v.clusters+2 || steps > v.clusters {
			return nil, fmt.Errorf("%w: fat: bad cluster chain (cluster %d)", ErrMalformed, c)
		}
		if int64(len(out))+cb > limit+cb {
			return nil, fmt.Errorf("%w: fat: chain longer than %d bytes", ErrTooLarge, limit)
		}
		b, err := readAt(v.r, v.dataStart+int64(c-2)*cb, int(cb))
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		if c, err = v.next(c); err != nil {
			return nil, err
		}
	}
}

func (v *fatVolume) rootDir() ([]byte, error) {
	if v.bits == 32 {
		return v.readChain(v.rootCluster, -1, maxDirBytes)
	}
	if v.rootBytes > maxDirBytes {
		return nil, fmt.Errorf("%w: fat: root directory of %d bytes", ErrTooLarge, v.rootBytes)
	}
	return readAt(v.r, v.rootStart, int(v.rootBytes))
}

// parseDir decodes directory entries, joining long names to their short
// entries when the checksum matches.
func parseDir(raw []byte) []fatEntry {
	var out []fatEntry
	var long []uint16
	var want byte
	var sum byte
	for i := 0; i+32 <= len(raw); i += 32 {
		e := raw[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 {
			long = nil
			continue
		}
		if e[11]&0x3F == 0x0F { // long-name entry
			ord := e[0] & 0x3F
			if e[0]&0x40 != 0 {
				long, want, sum = make([]uint16, 13*int(ord)), ord, e[13]
			}
			if long == nil || ord != want || ord == 0 || e[13] != sum {
				long = nil
				continue
			}
			want--
			base := 13 * int(ord-1)
			for j, off := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				long[base+j] = binary.LittleEndian.Uint16(e[off:])
			}
			continue
		}
		if e[11]&0x08 != 0 { // volume label
			long = nil
			continue
		}
		ent := fatEntry{
			dir:     e[11]&0x10 != 0,
			cluster: uint32(binary.LittleEndian.Uint16(e[26:])) | uint32(binary.LittleEndian.Uint16(e[20:]))<<16,
			size:    int64(binary.LittleEndian.Uint32(e[28:])),
		}
		if long != nil && want == 0 && shortSum(e[:11]) == sum {
			n := 0
			for n < len(long) && long[n] != 0 && long[n] != 0xFFFF {
				n++
			}
			ent.name = string(utf16.Decode(long[:n]))
		} else {
			ent.name = shortName(e)
		}
		long = nil
		if ent.name != "." && ent.name != ".." {
			out = append(out, ent)
		}
	}
	return out
}

func shortSum(s []byte) byte {
	var sum byte
	for _, c := range s {
		sum = (sum>>1 | sum<<7) + c
	}
	return sum
}

func shortName(e []byte) string {
	base := strings.TrimRight(string(e[:8]), " ")
	ext := strings.TrimRight(string(e[8:11]), " ")
	if len(base) > 0 && base[0] == 0x05 {
		base = "\xe5" + base[1:]
	}
	if e[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

func (v *fatVolume) readFile(p string, max int64) ([]byte, error) {
	parts, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	raw, err := v.rootDir()
	if err != nil {
		return nil, err
	}
	for i, part := range parts {
		var found *fatEntry
		for _, e := range parseDir(raw) {
			// FAT names are case-insensitive.
			if strings.EqualFold(e.name, part) {
				found = &e
				break
			}
		}
		last := i == len(parts)-1
		if found == nil || found.dir == last {
			return nil, notExist(p)
		}
		if last {
			if found.size > max {
				return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrTooLarge, p, found.size, max)
			}
			if found.size == 0 {
				return []byte{}, nil
			}
			return v.readChain(found.cluster, found.size, max)
		}
		if raw, err = v.readChain(found.cluster, -1, maxDirBytes); err != nil {
			return nil, err
		}
	}
	return nil, notExist(p)
}
