package agent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// iso9660 volumes (ECMA-119), as genisoimage, xorriso and cloud-localds
// write NoCloud seeds: names come from the Joliet supplementary volume
// descriptor when there is one, else from Rock Ridge NM entries, else from
// the plain ISO name (upper case, ";1" version, '_' for '-'), compared
// loosely.
type isoVolume struct {
	r         io.ReaderAt
	size      int64
	block     int64
	volID     string
	root      isoRecord
	joliet    bool
	rockRidge bool
}

type isoRecord struct {
	extent int64 // in logical blocks
	length int64
	dir    bool
	name   string // as found: UCS-2 decoded for Joliet, NM for Rock Ridge
	rrName bool
}

const isoSector = 2048

func openISO(r io.ReaderAt, size int64) (*isoVolume, error) {
	v := &isoVolume{r: r, size: size}
	var pvd, jol []byte
	for i := int64(16); i < 16+32; i++ {
		d, err := readAt(r, i*isoSector, isoSector)
		if err != nil {
			if i == 16 {
				return nil, errNotThisFS
			}
			return nil, err
		}
		if string(d[1:6]) != "CD001" {
			if i == 16 {
				return nil, errNotThisFS
			}
			return nil, fmt.Errorf("%w: iso9660: volume descriptor %d has no CD001", ErrMalformed, i)
		}
		switch d[0] {
		case 1:
			if pvd == nil {
				pvd = d
			}
		case 2:
			if esc := string(d[88:91]); jol == nil && (esc == "%/@" || esc == "%/C" || esc == "%/E") {
				jol = d
			}
		case 255:
			i = 16 + 32
		}
	}
	if pvd == nil {
		return nil, fmt.Errorf("%w: iso9660: no primary volume descriptor", ErrMalformed)
	}
	v.block = int64(binary.LittleEndian.Uint16(pvd[128:]))
	if v.block != 512 && v.block != 1024 && v.block != 2048 {
		return nil, fmt.Errorf("%w: iso9660: logical block size %d", ErrMalformed, v.block)
	}
	v.volID = strings.TrimRight(string(pvd[40:72]), " \x00")
	desc := pvd
	if jol != nil {
		desc, v.joliet = jol, true
	}
	root, _, err := v.parseRecord(desc[156 : 156+34])
	if err != nil || !root.dir {
		return nil, fmt.Errorf("%w: iso9660: bad root directory record", ErrMalformed)
	}
	v.root = root
	if !v.joliet {
		// Rock Ridge names if the root's "." entry carries SUSP.
		kids, err := v.readDir(root)
		if err != nil {
			return nil, err
		}
		for _, k := range kids {
			if k.rrName {
				v.rockRidge = true
			}
		}
	}
	return v, nil
}

func (v *isoVolume) label() string { return v.volID }

// parseRecord decodes one directory record; it returns the record and its
// length.
func (v *isoVolume) parseRecord(b []byte) (isoRecord, int, error) {
	if len(b) < 34 || int(b[0]) < 34 || int(b[0]) > len(b) {
		return isoRecord{}, 0, fmt.Errorf("%w: iso9660: directory record", ErrMalformed)
	}
	n := int(b[0])
	nameLen := int(b[32])
	if 33+nameLen > n {
		return isoRecord{}, 0, fmt.Errorf("%w: iso9660: directory record name", ErrMalformed)
	}
	rec := isoRecord{
		extent: int64(binary.LittleEndian.Uint32(b[2:])),
		length: int64(binary.LittleEndian.Uint32(b[10:])),
		dir:    b[25]&2 != 0,
	}
	if b[25]&0x80 != 0 {
		return isoRecord{}, 0, fmt.Errorf("%w: iso9660: multi-extent files are not supported", ErrMalformed)
	}
	raw := b[33 : 33+nameLen]
	switch {
	case nameLen == 1 && (raw[0] == 0 || raw[0] == 1):
		rec.name = "."
		if raw[0] == 1 {
			rec.name = ".."
		}
	case v.joliet:
		if nameLen%2 != 0 {
			return isoRecord{}, 0, fmt.Errorf("%w: iso9660: odd Joliet name length", ErrMalformed)
		}
		u := make([]uint16, nameLen/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(raw[2*i:])
		}
		rec.name = string(utf16.Decode(u))
	default:
		rec.name = string(raw)
		su := 33 + nameLen
		if su%2 != 0 {
			su++
		}
		if nm, ok := rockRidgeName(b[min(su, n):n]); ok {
			rec.name, rec.rrName = nm, true
		}
	}
	return rec, n, nil
}

// rockRidgeName returns the name from the NM entries of a System Use
// area (SUSP, IEEE P1282); continuation areas (CE) are not followed.
func rockRidgeName(su []byte) (string, bool) {
	var name []byte
	found := false
	for len(su) >= 4 {
		l := int(su[2])
		if l < 4 || l > len(su) {
			break
		}
		if string(su[:2]) == "NM" && l >= 5 {
			flags := su[4]
			if flags&(2|4) == 0 { // not "." or ".."
				name = append(name, su[5:l]...)
				found = true
			}
		}
		if string(su[:2]) == "ST" {
			break
		}
		su = su[l:]
	}
	return string(name), found && len(name) > 0
}

// readDir returns the records of directory d, without "." and "..".
func (v *isoVolume) readDir(d isoRecord) ([]isoRecord, error) {
	if d.length > maxDirBytes {
		return nil, fmt.Errorf("%w: iso9660: directory of %d bytes", ErrTooLarge, d.length)
	}
	off := d.extent * v.block
	if off < 0 || off+d.length > v.size {
		return nil, fmt.Errorf("%w: iso9660: directory beyond the volume", ErrMalformed)
	}
	data, err := readAt(v.r, off, int(d.length))
	if err != nil {
		return nil, err
	}
	var out []isoRecord
	for i := 0; i < len(data); {
		if data[i] == 0 { // records do not cross sectors: skip the padding
			i = (i/isoSector + 1) * isoSector
			continue
		}
		rec, n, err := v.parseRecord(data[i:])
		if err != nil {
			return nil, err
		}
		i += n
		if rec.name != "." && rec.name != ".." {
			out = append(out, rec)
		}
	}
	return out, nil
}

// isoPlainName maps a plain ISO 9660 name to what a NoCloud tool meant:
// version and trailing dot dropped, lower case, '_' for '-'.
func isoPlainName(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".")
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

func (v *isoVolume) match(rec isoRecord, want string) bool {
	if v.joliet || v.rockRidge {
		return rec.name == want
	}
	n := isoPlainName(rec.name)
	return n == isoPlainName(want) || n == iso83(want)
}

// iso83 is want as a level-1 ISO 9660 writer truncates it: 8.3, plain
// name form (genisoimage without -l makes "meta-data" META_DAT.;1).
func iso83(want string) string {
	base, ext, _ := strings.Cut(isoPlainName(want), ".")
	base, ext = base[:min(len(base), 8)], ext[:min(len(ext), 3)]
	if ext == "" {
		return base
	}
	return base + "." + ext
}

func (v *isoVolume) readFile(p string, max int64) ([]byte, error) {
	parts, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	cur := v.root
	for i, part := range parts {
		kids, err := v.readDir(cur)
		if err != nil {
			return nil, err
		}
		found := false
		for _, k := range kids {
			if v.match(k, part) && k.dir == (i < len(parts)-1) {
				cur, found = k, true
				break
			}
		}
		if !found {
			return nil, notExist(p)
		}
	}
	if cur.length > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrTooLarge, p, cur.length, max)
	}
	off := cur.extent * v.block
	if off < 0 || off+cur.length > v.size {
		return nil, fmt.Errorf("%w: iso9660: %s beyond the volume", ErrMalformed, p)
	}
	b, err := readAt(v.r, off, int(cur.length))
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}
