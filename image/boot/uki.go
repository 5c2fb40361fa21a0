package boot

import (
	"fmt"
)

// UKI is a Unified Kernel Image to assemble: the systemd EFI stub
// (linuxx64.efi.stub) with the sections systemd-stub reads at boot. Empty
// sections are left out.
type UKI struct {
	Stub      []byte // the EFI stub, a PE32+ image
	Linux     []byte // the kernel (bzImage), section .linux
	Initrd    []byte // the initramfs, section .initrd
	Cmdline   string // the kernel command line, section .cmdline
	OSRelease []byte // os-release of the image, section .osrel
	Uname     string // the kernel version (uname -r), section .uname
	// SBAT holds SBAT lines (CSV, newline-terminated) appended to the stub's
	// own .sbat section, as ukify does for a kernel's SBAT data.
	SBAT string
}

// Build lays the sections out the way systemd's ukify does: each one after
// the stub's last section, at the next multiple of the stub's
// SectionAlignment in memory and FileAlignment in the file, with
// SizeOfImage, SizeOfInitializedData and the PE checksum updated. A
// signature or COFF symbol table of the stub is dropped. The result is
// deterministic: the same UKI gives the same bytes.
func (u *UKI) Build() ([]byte, error) {
	stub := append([]byte(nil), u.Stub...)
	p, err := parsePE(stub)
	if err != nil {
		return nil, fmt.Errorf("EFI stub: %w", err)
	}
	if err := p.stripForAppend(); err != nil {
		return nil, err
	}
	if u.SBAT != "" {
		if err := p.appendInPlace(".sbat", []byte(u.SBAT)); err != nil {
			return nil, err
		}
	}
	add := []struct {
		name string
		data []byte
	}{
		{".osrel", u.OSRelease},
		{".cmdline", []byte(u.Cmdline)},
		{".uname", []byte(u.Uname)},
		{".initrd", u.Initrd},
		{".linux", u.Linux},
	}
	for _, s := range add {
		if len(s.data) == 0 {
			continue
		}
		if _, dup := p.section(s.name); dup {
			return nil, fmt.Errorf("%w: the stub already has a %s section", ErrPE, s.name)
		}
		if err := p.addSection(s.name, s.data); err != nil {
			return nil, err
		}
	}
	p.finish()
	return p.data, nil
}

// stripForAppend drops what must not survive new sections: a signature
// (it would no longer match) and a COFF symbol table (image files should not
// carry one, and it would sit between sections). The file is cut at the end
// of the last section.
func (p *peFile) stripForAppend() error {
	d := p.dirOff(dirSecurity)
	le.PutUint64(p.data[d:], 0)
	le.PutUint32(p.data[p.coff+8:], 0)  // PointerToSymbolTable
	le.PutUint32(p.data[p.coff+12:], 0) // NumberOfSymbols
	p.data = p.data[:p.rawEnd()]
	return nil
}

// appendInPlace appends data to the contents of an existing section, which
// must have room for it both in the file and in memory (before the next
// section's address).
func (p *peFile) appendInPlace(name string, extra []byte) error {
	for i, s := range p.sections {
		if s.Name != name {
			continue
		}
		old := p.data[s.RawPtr : s.RawPtr+min(s.VSize, s.RawSize)]
		old = trimNUL(old)
		size := uint32(len(old) + len(extra))
		limit := s.RawSize
		for _, o := range p.sections {
			if o.VA > s.VA && o.VA-s.VA < limit {
				limit = o.VA - s.VA
			}
		}
		if size > limit {
			return fmt.Errorf("%w: %s section holds %d bytes, %d needed", ErrNoRoom, name, limit, size)
		}
		buf := make([]byte, 0, size)
		buf = append(append(buf, old...), extra...)
		copy(p.data[s.RawPtr:], buf)
		le.PutUint32(p.data[s.hdr+8:], size)
		p.sections[i].VSize = size
		return nil
	}
	return p.addSection(name, extra)
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// addSection appends a section after the last one.
func (p *peFile) addSection(name string, data []byte) error {
	if len(name) > 8 {
		return fmt.Errorf("%w: section name %q longer than 8 bytes", ErrPE, name)
	}
	h := p.secTable + len(p.sections)*peSectionHeaderSize
	if h+peSectionHeaderSize > int(p.sizeHeaders) {
		return fmt.Errorf("%w: adding %s (headers end at %#x)", ErrNoRoom, name, p.sizeHeaders)
	}
	if !p.headerSpaceFree(h, h+peSectionHeaderSize) {
		return fmt.Errorf("%w: adding %s: header space after the section table is in use", ErrNoRoom, name)
	}
	if uint64(len(p.data))+uint64(len(data))+uint64(p.fileAlgn) > 1<<32-1 {
		return fmt.Errorf("%w: %s of %d bytes makes the image exceed 4 GiB", ErrPE, name, len(data))
	}
	var vend uint32
	for _, s := range p.sections {
		vend = max(vend, s.VA+s.VSize)
	}
	s := peSection{
		hdr:      h,
		Name:     name,
		VSize:    uint32(len(data)),
		VA:       alignUp(vend, p.sectionAlgn),
		RawPtr:   alignUp(uint32(len(p.data)), p.fileAlgn),
		RawSize:  alignUp(uint32(len(data)), p.fileAlgn),
		Charactr: scnMemRead | scnCntInitializedData,
	}
	if name == ".linux" {
		// As ukify: old kernels using the EFI handover protocol run in place.
		s.Charactr = scnMemRead | scnCntCode
	}
	p.data = append(p.data, make([]byte, int(s.RawPtr)-len(p.data))...)
	p.data = append(p.data, data...)
	p.data = append(p.data, make([]byte, int(s.RawSize)-len(data))...)
	hdr := p.data[h : h+peSectionHeaderSize]
	// The space may hold a stub's padding (gnu-efi's aarch64 NOPs): every
	// field not set below (the name's NUL padding, relocations, line
	// numbers) must be zero, or PE readers see garbage relocations.
	clear(hdr)
	copy(hdr, name)
	le.PutUint32(hdr[8:], s.VSize)
	le.PutUint32(hdr[12:], s.VA)
	le.PutUint32(hdr[16:], s.RawSize)
	le.PutUint32(hdr[20:], s.RawPtr)
	le.PutUint32(hdr[36:], s.Charactr)
	p.sections = append(p.sections, s)
	le.PutUint16(p.data[p.coff+2:], uint16(len(p.sections)))
	initData := le.Uint32(p.data[p.opt+8:])
	le.PutUint32(p.data[p.opt+8:], initData+s.VSize)
	return nil
}

// headerSpaceFree reports whether bytes [from, to) of the headers may take
// a new section header: zeros, or padding no section's data and no data
// directory lies in. gnu-efi's aarch64 stubs (systemd-boot 252's
// linuxaa64.efi.stub) pad their headers with NOP instructions, not zeros.
func (p *peFile) headerSpaceFree(from, to int) bool {
	zero := true
	for _, b := range p.data[from:to] {
		zero = zero && b == 0
	}
	if zero {
		return true
	}
	overlaps := func(start, size uint32) bool {
		return size > 0 && int(start) < to && int(start)+int(size) > from
	}
	for _, s := range p.sections {
		if overlaps(s.RawPtr, s.RawSize) || overlaps(s.VA, s.VSize) {
			return false
		}
	}
	for i := 0; i < int(p.numDirs()); i++ {
		d := p.dirOff(i)
		if overlaps(le.Uint32(p.data[d:]), le.Uint32(p.data[d+4:])) {
			return false
		}
	}
	return true
}

// finish sets SizeOfImage and the checksum.
func (p *peFile) finish() {
	var vend uint32
	for _, s := range p.sections {
		vend = max(vend, s.VA+s.VSize)
	}
	le.PutUint32(p.data[p.opt+56:], alignUp(vend, p.sectionAlgn))
	le.PutUint32(p.data[p.checksumOff():], peChecksum(p.data, p.checksumOff()))
}
