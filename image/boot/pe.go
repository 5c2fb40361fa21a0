package boot

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// peFile is a parsed PE/COFF image held in memory (an EFI stub or a UKI:
// megabytes, not a disk). Offsets are file offsets into data.
type peFile struct {
	data        []byte
	coff        int // offset of the COFF file header (after "PE\0\0")
	opt         int // offset of the optional header
	pe32plus    bool
	secTable    int // offset of the first section header
	sections    []peSection
	sectionAlgn uint32
	fileAlgn    uint32
	sizeHeaders uint32
}

type peSection struct {
	hdr      int // offset of its header
	Name     string
	VSize    uint32
	VA       uint32
	RawSize  uint32
	RawPtr   uint32
	Charactr uint32
}

const (
	scnCntCode            = 0x00000020
	scnCntInitializedData = 0x00000040
	scnMemRead            = 0x40000000
	peSectionHeaderSize   = 40
	dirSecurity           = 4
)

var le = binary.LittleEndian

// parsePE checks the headers of a PE/COFF image and reads its section table.
// It never panics on malformed input.
func parsePE(b []byte) (*peFile, error) {
	if len(b) < 0x40 || b[0] != 'M' || b[1] != 'Z' {
		return nil, fmt.Errorf("%w: no MZ header", ErrPE)
	}
	lfanew := int(le.Uint32(b[0x3c:]))
	if lfanew < 0x40 || lfanew > len(b)-24 || !bytes.Equal(b[lfanew:lfanew+4], []byte("PE\x00\x00")) {
		return nil, fmt.Errorf("%w: no PE signature at offset %#x", ErrPE, lfanew)
	}
	p := &peFile{data: b, coff: lfanew + 4}
	nsec := int(le.Uint16(b[p.coff+2:]))
	optSize := int(le.Uint16(b[p.coff+16:]))
	p.opt = p.coff + 20
	if optSize < 96 || p.opt+optSize > len(b) {
		return nil, fmt.Errorf("%w: optional header of %d bytes out of range", ErrPE, optSize)
	}
	switch le.Uint16(b[p.opt:]) {
	case 0x20b:
		p.pe32plus = true
		if optSize < 112 {
			return nil, fmt.Errorf("%w: PE32+ optional header too short (%d bytes)", ErrPE, optSize)
		}
	case 0x10b:
	default:
		return nil, fmt.Errorf("%w: unknown optional header magic %#x", ErrPE, le.Uint16(b[p.opt:]))
	}
	if n := p.numDirs(); int(n) < dirSecurity+1 || p.dirOff(dirSecurity)+8 > p.opt+optSize {
		return nil, fmt.Errorf("%w: %d data directories, no security directory", ErrPE, n)
	}
	p.sectionAlgn = le.Uint32(b[p.opt+32:])
	p.fileAlgn = le.Uint32(b[p.opt+36:])
	p.sizeHeaders = le.Uint32(b[p.opt+60:])
	if !pow2(p.sectionAlgn) || !pow2(p.fileAlgn) || p.fileAlgn < 512 && p.fileAlgn != p.sectionAlgn {
		return nil, fmt.Errorf("%w: alignments section %#x file %#x", ErrPE, p.sectionAlgn, p.fileAlgn)
	}
	p.secTable = p.opt + optSize
	if nsec == 0 || p.secTable+nsec*peSectionHeaderSize > int(p.sizeHeaders) || int(p.sizeHeaders) > len(b) {
		return nil, fmt.Errorf("%w: %d section headers do not fit in %d bytes of headers", ErrPE, nsec, p.sizeHeaders)
	}
	for i := 0; i < nsec; i++ {
		h := p.secTable + i*peSectionHeaderSize
		s := peSection{
			hdr:      h,
			Name:     string(bytes.TrimRight(b[h:h+8], "\x00")),
			VSize:    le.Uint32(b[h+8:]),
			VA:       le.Uint32(b[h+12:]),
			RawSize:  le.Uint32(b[h+16:]),
			RawPtr:   le.Uint32(b[h+20:]),
			Charactr: le.Uint32(b[h+36:]),
		}
		if s.RawSize > 0 && (uint64(s.RawPtr)+uint64(s.RawSize) > uint64(len(b)) || s.RawPtr < p.sizeHeaders) {
			return nil, fmt.Errorf("%w: section %q raw data [%#x,+%#x) outside the file of %d bytes", ErrPE, s.Name, s.RawPtr, s.RawSize, len(b))
		}
		if uint64(s.VA)+uint64(s.VSize) > 1<<32-1 {
			return nil, fmt.Errorf("%w: section %q virtual range overflows", ErrPE, s.Name)
		}
		p.sections = append(p.sections, s)
	}
	return p, nil
}

func pow2(v uint32) bool { return v != 0 && v&(v-1) == 0 }

func (p *peFile) numDirs() uint32 {
	if p.pe32plus {
		return le.Uint32(p.data[p.opt+108:])
	}
	return le.Uint32(p.data[p.opt+92:])
}

// dirOff is the file offset of data directory i.
func (p *peFile) dirOff(i int) int {
	if p.pe32plus {
		return p.opt + 112 + 8*i
	}
	return p.opt + 96 + 8*i
}

func (p *peFile) checksumOff() int { return p.opt + 64 }

// section returns the section called name.
func (p *peFile) section(name string) (peSection, bool) {
	for _, s := range p.sections {
		if s.Name == name {
			return s, true
		}
	}
	return peSection{}, false
}

// rawEnd is the end of the last section's raw data.
func (p *peFile) rawEnd() uint32 {
	end := p.sizeHeaders
	for _, s := range p.sections {
		if s.RawSize > 0 && s.RawPtr+s.RawSize > end {
			end = s.RawPtr + s.RawSize
		}
	}
	return end
}

// peChecksum computes the PE image checksum of b: the 16-bit one's
// complement-style sum of the file with the checksum field taken as zero,
// plus the file length.
func peChecksum(b []byte, checksumOff int) uint32 {
	var sum uint64
	for i := 0; i+1 < len(b); i += 2 {
		if i == checksumOff || i == checksumOff+2 {
			continue
		}
		sum += uint64(le.Uint16(b[i:]))
		sum = (sum & 0xffff) + (sum >> 16)
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1])
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(b))
}

func alignUp(v, a uint32) uint32 { return (v + a - 1) &^ (a - 1) }
