package gpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// ReadOption configures [Read].
type ReadOption func(*readOptions) error

type readOptions struct{ sectorSize int }

// WithSectorSize reads the table with a logical sector size of 512
// (default) or 4096 bytes. The caller states it; Read does not guess.
func WithSectorSize(n int) ReadOption {
	return func(o *readOptions) error {
		if n != 512 && n != 4096 {
			return &FieldError{"disk", "SectorSize", n, ErrLayout}
		}
		o.sectorSize = n
		return nil
	}
}

// header is a decoded GPT header.
type header struct {
	my, alternate, firstUsable, lastUsable, entriesLBA uint64
	diskGUID                                           GUID
	count, entrySize, arrayCRC                         uint32
}

// Read parses and validates the partition table of an untrusted disk of
// size bytes: the protective MBR, the primary header and entries, and the
// backup header and entries, which must agree with the primary. It returns
// a [*FieldError] naming the first problem.
func Read(r io.ReaderAt, size int64, opts ...ReadOption) (*Table, error) {
	o := readOptions{sectorSize: 512}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	ss := int64(o.sectorSize)
	if size < 0 {
		return nil, &FieldError{"disk", "Size", size, ErrBounds}
	}
	sectors := uint64(size / ss)
	if sectors < 4 {
		return nil, &FieldError{"disk", "Size", fmt.Sprintf("%d bytes (too small for a GPT)", size), ErrBounds}
	}
	sector := func(lba uint64, what string) ([]byte, error) {
		b := make([]byte, ss)
		if _, err := r.ReadAt(b, int64(lba)*ss); err != nil {
			return nil, fmt.Errorf("gpt: read %s at LBA %d: %w", what, lba, err)
		}
		return b, nil
	}
	mbr, err := sector(0, "protective MBR")
	if err != nil {
		return nil, err
	}
	if err := checkMBR(mbr); err != nil {
		return nil, err
	}
	pb, err := sector(1, "primary header")
	if err != nil {
		return nil, err
	}
	ph, err := parseHeader(pb, "primary header", 1, sectors)
	if err != nil {
		return nil, err
	}
	if ph.alternate == 1 {
		return nil, &FieldError{"primary header", "AlternateLBA", ph.alternate, ErrBounds}
	}
	parray, err := readArray(r, ss, ph, "primary entries")
	if err != nil {
		return nil, err
	}
	// The primary array lies between the header and the usable area.
	if ph.entriesLBA < 2 || ph.entriesLBA+arraySectors(ph, ss) > ph.firstUsable {
		return nil, &FieldError{"primary header", "PartitionEntryLBA", fmt.Sprintf("%d (array of %d sectors must lie between LBA 2 and first usable LBA %d)", ph.entriesLBA, arraySectors(ph, ss), ph.firstUsable), ErrOverlap}
	}

	bb, err := sector(ph.alternate, "backup header")
	if err != nil {
		return nil, err
	}
	bh, err := parseHeader(bb, "backup header", ph.alternate, sectors)
	if err != nil {
		return nil, err
	}
	barray, err := readArray(r, ss, bh, "backup entries")
	if err != nil {
		return nil, err
	}
	if bh.entriesLBA <= bh.lastUsable || bh.entriesLBA+arraySectors(bh, ss) > bh.my {
		return nil, &FieldError{"backup header", "PartitionEntryLBA", fmt.Sprintf("%d (array of %d sectors must lie between last usable LBA %d and the backup header at %d)", bh.entriesLBA, arraySectors(bh, ss), bh.lastUsable, bh.my), ErrOverlap}
	}
	for _, c := range []struct {
		field  string
		p, b   any
		differ bool
	}{
		{"AlternateLBA", uint64(1), bh.alternate, bh.alternate != 1},
		{"DiskGUID", ph.diskGUID, bh.diskGUID, ph.diskGUID != bh.diskGUID},
		{"FirstUsableLBA", ph.firstUsable, bh.firstUsable, ph.firstUsable != bh.firstUsable},
		{"LastUsableLBA", ph.lastUsable, bh.lastUsable, ph.lastUsable != bh.lastUsable},
		{"NumberOfPartitionEntries", ph.count, bh.count, ph.count != bh.count},
		{"SizeOfPartitionEntry", ph.entrySize, bh.entrySize, ph.entrySize != bh.entrySize},
		{"PartitionEntryArrayCRC32", ph.arrayCRC, bh.arrayCRC, ph.arrayCRC != bh.arrayCRC},
	} {
		if c.differ {
			return nil, &FieldError{"backup header", c.field, fmt.Sprintf("%v (primary has %v)", c.b, c.p), ErrBackup}
		}
	}
	if !bytes.Equal(parray, barray) {
		return nil, &FieldError{"backup entries", "contents", "differ from the primary entries", ErrBackup}
	}

	t := &Table{DiskGUID: ph.diskGUID, SectorSize: int(ss), Sectors: sectors, Entries: int(ph.count)}
	for i := 0; i < int(ph.count); i++ {
		e := parray[i*int(ph.entrySize) : (i+1)*int(ph.entrySize)]
		typ := decodeGUID(e[0:16])
		if typ.IsZero() {
			continue
		}
		p := Partition{
			Number:     i + 1,
			Type:       typ,
			UUID:       decodeGUID(e[16:32]),
			FirstLBA:   binary.LittleEndian.Uint64(e[32:]),
			LastLBA:    binary.LittleEndian.Uint64(e[40:]),
			Attributes: Attributes(binary.LittleEndian.Uint64(e[48:])),
			Name:       decodeName(e[56:128]),
		}
		t.Partitions = append(t.Partitions, p)
	}
	// The geometry of a table we read comes from its headers, which may
	// place the arrays elsewhere than we would; check partitions against
	// the header's usable area.
	if err := t.checkIn(ph.firstUsable, ph.lastUsable); err != nil {
		return nil, err
	}
	return t, nil
}

// checkMBR accepts a protective MBR: the boot signature and a partition of
// type 0xEE starting at LBA 1.
func checkMBR(b []byte) error {
	if b[510] != 0x55 || b[511] != 0xAA {
		return &FieldError{"mbr", "Signature", fmt.Sprintf("%#02x%02x", b[510], b[511]), ErrMBR}
	}
	for i := 0; i < 4; i++ {
		e := b[446+16*i : 446+16*(i+1)]
		if e[4] == 0xEE {
			if start := binary.LittleEndian.Uint32(e[8:]); start != 1 {
				return &FieldError{"mbr", fmt.Sprintf("partition %d StartingLBA", i+1), start, ErrMBR}
			}
			return nil
		}
	}
	return &FieldError{"mbr", "OSType", "no 0xEE protective partition", ErrMBR}
}

// parseHeader decodes and checks one header sector found at LBA my.
func parseHeader(b []byte, where string, my, sectors uint64) (*header, error) {
	le := binary.LittleEndian
	if !bytes.Equal(b[0:8], headerSignature[:]) {
		return nil, &FieldError{where, "Signature", fmt.Sprintf("%q", b[0:8]), ErrSignature}
	}
	if rev := le.Uint32(b[8:]); rev>>16 != 1 {
		return nil, &FieldError{where, "Revision", fmt.Sprintf("%#x", rev), ErrSignature}
	}
	hs := le.Uint32(b[12:])
	if hs < headerSize || int(hs) > len(b) {
		return nil, &FieldError{where, "HeaderSize", hs, ErrSignature}
	}
	want := le.Uint32(b[16:])
	c := bytes.Clone(b[:hs])
	le.PutUint32(c[16:], 0)
	if got := crc32.ChecksumIEEE(c); got != want {
		return nil, &FieldError{where, "HeaderCRC32", fmt.Sprintf("%#08x (computed %#08x)", want, got), ErrCRC}
	}
	h := &header{
		my:          le.Uint64(b[24:]),
		alternate:   le.Uint64(b[32:]),
		firstUsable: le.Uint64(b[40:]),
		lastUsable:  le.Uint64(b[48:]),
		diskGUID:    decodeGUID(b[56:72]),
		entriesLBA:  le.Uint64(b[72:]),
		count:       le.Uint32(b[80:]),
		entrySize:   le.Uint32(b[84:]),
		arrayCRC:    le.Uint32(b[88:]),
	}
	last := sectors - 1
	switch {
	case h.my != my:
		return nil, &FieldError{where, "MyLBA", fmt.Sprintf("%d (found at LBA %d)", h.my, my), ErrBounds}
	case h.alternate > last:
		return nil, &FieldError{where, "AlternateLBA", fmt.Sprintf("%d (disk ends at LBA %d)", h.alternate, last), ErrBounds}
	case h.firstUsable < 2 || h.firstUsable > last:
		return nil, &FieldError{where, "FirstUsableLBA", fmt.Sprintf("%d (disk ends at LBA %d)", h.firstUsable, last), ErrBounds}
	case h.lastUsable < h.firstUsable || h.lastUsable > last:
		return nil, &FieldError{where, "LastUsableLBA", fmt.Sprintf("%d (first usable %d, disk ends at LBA %d)", h.lastUsable, h.firstUsable, last), ErrBounds}
	case h.my >= h.firstUsable && h.my <= h.lastUsable:
		return nil, &FieldError{where, "MyLBA", fmt.Sprintf("%d (inside the usable area %d-%d)", h.my, h.firstUsable, h.lastUsable), ErrOverlap}
	case h.alternate >= h.firstUsable && h.alternate <= h.lastUsable:
		return nil, &FieldError{where, "AlternateLBA", fmt.Sprintf("%d (inside the usable area %d-%d)", h.alternate, h.firstUsable, h.lastUsable), ErrOverlap}
	case h.entrySize < EntrySize || h.entrySize > MaxEntrySize || h.entrySize&(h.entrySize-1) != 0:
		return nil, &FieldError{where, "SizeOfPartitionEntry", fmt.Sprintf("%d (want 128×2^n up to %d)", h.entrySize, MaxEntrySize), ErrEntries}
	case h.count == 0 || uint64(h.count)*uint64(h.entrySize) > MaxEntryArray:
		return nil, &FieldError{where, "NumberOfPartitionEntries", fmt.Sprintf("%d of %d bytes (array limit %d bytes)", h.count, h.entrySize, MaxEntryArray), ErrEntries}
	case h.entriesLBA > last || h.entriesLBA+arraySectors(h, int64(len(b)))-1 > last:
		return nil, &FieldError{where, "PartitionEntryLBA", fmt.Sprintf("%d (disk ends at LBA %d)", h.entriesLBA, last), ErrBounds}
	case h.entriesLBA <= h.lastUsable && h.entriesLBA+arraySectors(h, int64(len(b)))-1 >= h.firstUsable:
		return nil, &FieldError{where, "PartitionEntryLBA", fmt.Sprintf("%d (array overlaps the usable area %d-%d)", h.entriesLBA, h.firstUsable, h.lastUsable), ErrOverlap}
	case h.entriesLBA <= h.my && h.my < h.entriesLBA+arraySectors(h, int64(len(b))):
		return nil, &FieldError{where, "PartitionEntryLBA", fmt.Sprintf("%d (array overlaps the header at LBA %d)", h.entriesLBA, h.my), ErrOverlap}
	}
	return h, nil
}

func arraySectors(h *header, ss int64) uint64 {
	return (uint64(h.count)*uint64(h.entrySize) + uint64(ss) - 1) / uint64(ss)
}

// readArray reads an entry array and checks its CRC.
func readArray(r io.ReaderAt, ss int64, h *header, where string) ([]byte, error) {
	b := make([]byte, uint64(h.count)*uint64(h.entrySize))
	if _, err := r.ReadAt(b, int64(h.entriesLBA)*ss); err != nil {
		return nil, fmt.Errorf("gpt: read %s at LBA %d: %w", where, h.entriesLBA, err)
	}
	if got := crc32.ChecksumIEEE(b); got != h.arrayCRC {
		return nil, &FieldError{where, "PartitionEntryArrayCRC32", fmt.Sprintf("%#08x (computed %#08x)", h.arrayCRC, got), ErrCRC}
	}
	return b, nil
}

func decodeName(b []byte) string {
	u := make([]uint16, 0, MaxNameLen)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
