package fat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// shortChars are the characters a short (8.3) name may hold besides A-Z
// and 0-9.
const shortChars = "!#$%&'()-@^_`{}~"

// longInvalid are the characters no FAT name may hold.
const longInvalid = "\"*/:<>?\\|"

func validShortChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(shortChars, c) >= 0
}

// checkName rejects names FAT cannot store.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	for _, r := range name {
		if r < 0x20 || strings.ContainsRune(longInvalid, r) {
			return fmt.Errorf("%w: %q holds %q", ErrName, name, r)
		}
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		return fmt.Errorf("%w: %q ends in a dot or space", ErrName, name)
	}
	if n := len(utf16.Encode([]rune(name))); n > 255 {
		return fmt.Errorf("%w: %q has %d UTF-16 units (at most 255)", ErrName, name, n)
	}
	return nil
}

// plainShort returns the 11-byte short name of name if name is already a
// valid upper-case 8.3 name (so it needs no long-name entries).
func plainShort(name string) ([11]byte, bool) {
	var s [11]byte
	base, ext, dot := strings.Cut(name, ".")
	if len(base) == 0 || len(base) > 8 || len(ext) > 3 || (dot && len(ext) == 0) || strings.Contains(ext, ".") {
		return s, false
	}
	for i := range len(name) {
		if name[i] != '.' && !validShortChar(name[i]) {
			return s, false
		}
	}
	copy(s[:], fmt.Sprintf("%-8s%-3s", base, ext))
	return s, true
}

// basis returns the upper-case base (up to 8) and extension (up to 3) of
// the short alias of a long name, with invalid characters as '_'.
func basis(name string) (string, string) {
	clean := func(s string) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			switch {
			case r == ' ' || r == '.':
			case r < 0x80 && validShortChar(byte(r)):
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	base, ext := strings.TrimLeft(name, "."), ""
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base, ext = base[:i], base[i+1:]
	}
	b, e := clean(base), clean(ext)
	if b == "" {
		b = "_"
	}
	return b, e[:min(len(e), 3)]
}

// aliasShort returns the short alias BASE~N.EXT for a long name, the
// first N that is not in used.
func aliasShort(name string, used map[[11]byte]bool) ([11]byte, error) {
	b, e := basis(name)
	for n := 1; n < 1000000; n++ {
		tail := "~" + strconv.Itoa(n)
		base := b[:min(len(b), 8-len(tail))] + tail
		var s [11]byte
		copy(s[:], fmt.Sprintf("%-8s%-3s", base, e))
		if !used[s] {
			return s, nil
		}
	}
	return [11]byte{}, fmt.Errorf("%w: no free short alias for %q", ErrName, name)
}

// shortChecksum is the checksum of a short name stored in its long-name
// entries.
func shortChecksum(s [11]byte) byte {
	var sum byte
	for _, c := range s {
		sum = (sum>>1 | sum<<7) + c
	}
	return sum
}

// longEntries returns the long-name directory entries of name, in disk
// order (last part first), for the short name s.
func longEntries(name string, s [11]byte) [][32]byte {
	u := utf16.Encode([]rune(name))
	n := (len(u) + 12) / 13
	if len(u)%13 != 0 {
		u = append(u, 0)
		for len(u)%13 != 0 {
			u = append(u, 0xFFFF)
		}
	}
	sum := shortChecksum(s)
	out := make([][32]byte, n)
	for i := range n {
		var e [32]byte
		ord := byte(i + 1)
		if i == n-1 {
			ord |= 0x40
		}
		e[0] = ord
		part := u[i*13 : i*13+13]
		put := func(off int, units []uint16) {
			for j, c := range units {
				e[off+2*j] = byte(c)
				e[off+2*j+1] = byte(c >> 8)
			}
		}
		put(1, part[0:5])
		e[11] = attrLongName
		e[12] = 0
		e[13] = sum
		put(14, part[5:11])
		// 26-27: first cluster, always 0.
		put(28, part[11:13])
		out[n-1-i] = e
	}
	return out
}
