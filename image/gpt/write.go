package gpt

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

const (
	headerSize = 92
	revision   = 0x00010000
)

var headerSignature = [8]byte{'E', 'F', 'I', ' ', 'P', 'A', 'R', 'T'}

// Write writes the protective MBR (LBA 0), the primary header (LBA 1) and
// entry array (LBA 2 on), the backup entry array and the backup header
// (last LBA) to w, which is the whole disk of t.Sectors sectors. It writes
// whole sectors, so stale bytes in them are cleared; it touches nothing in
// the usable area. Partitions with Number 0 take the next free entries.
func (t *Table) Write(ctx context.Context, w io.WriterAt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.SectorSize != 512 && t.SectorSize != 4096 {
		return &FieldError{"disk", "SectorSize", t.SectorSize, ErrLayout}
	}
	if t.entries()*EntrySize > MaxEntryArray {
		return &FieldError{"disk", "Entries", t.entries(), ErrLayout}
	}
	tt := *t
	tt.Partitions = append([]Partition(nil), t.Partitions...)
	next := tt.nextNumber()
	for i := range tt.Partitions {
		if tt.Partitions[i].Number == 0 {
			tt.Partitions[i].Number = next
			next++
		}
	}
	if tt.FirstUsableLBA() > tt.LastUsableLBA() {
		return &FieldError{"disk", "Sectors", fmt.Sprintf("%d (too small for a GPT)", tt.Sectors), ErrLayout}
	}
	if err := tt.check(); err != nil {
		return err
	}
	ss := int64(tt.SectorSize)
	array := tt.marshalEntries()
	arrayCRC := crc32.ChecksumIEEE(array[:tt.entries()*EntrySize])
	last := tt.Sectors - 1
	backupArray := last - tt.arraySectors()
	primary := tt.marshalHeader(1, last, 2, arrayCRC)
	backup := tt.marshalHeader(last, 1, backupArray, arrayCRC)

	writes := []struct {
		what string
		b    []byte
		lba  uint64
	}{
		{"protective MBR", tt.protectiveMBR(), 0},
		{"primary header", primary, 1},
		{"primary entries", array, 2},
		{"backup entries", array, backupArray},
		{"backup header", backup, last},
	}
	for _, x := range writes {
		if _, err := w.WriteAt(x.b, int64(x.lba)*ss); err != nil {
			return fmt.Errorf("gpt: write %s at LBA %d: %w", x.what, x.lba, err)
		}
	}
	return nil
}

// protectiveMBR returns sector 0: one partition of type 0xEE covering the
// disk from LBA 1 (capped at 2^32-1 sectors), as UEFI 2.10 §5.2.3 says.
func (t *Table) protectiveMBR() []byte {
	b := make([]byte, t.SectorSize)
	e := b[446:462]
	e[0] = 0x00                         // not bootable
	e[1], e[2], e[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	e[4] = 0xEE                         // GPT protective
	e[5], e[6], e[7] = 0xFF, 0xFF, 0xFF // CHS not representable
	binary.LittleEndian.PutUint32(e[8:], 1)
	binary.LittleEndian.PutUint32(e[12:], uint32(min(t.Sectors-1, 0xFFFFFFFF)))
	b[510], b[511] = 0x55, 0xAA
	return b
}

// marshalHeader returns a header sector.
func (t *Table) marshalHeader(my, alternate, entries uint64, arrayCRC uint32) []byte {
	b := make([]byte, t.SectorSize)
	copy(b[0:8], headerSignature[:])
	le := binary.LittleEndian
	le.PutUint32(b[8:], revision)
	le.PutUint32(b[12:], headerSize)
	le.PutUint64(b[24:], my)
	le.PutUint64(b[32:], alternate)
	le.PutUint64(b[40:], t.FirstUsableLBA())
	le.PutUint64(b[48:], t.LastUsableLBA())
	t.DiskGUID.encode(b[56:72])
	le.PutUint64(b[72:], entries)
	le.PutUint32(b[80:], uint32(t.entries()))
	le.PutUint32(b[84:], EntrySize)
	le.PutUint32(b[88:], arrayCRC)
	le.PutUint32(b[16:], crc32.ChecksumIEEE(b[:headerSize]))
	return b
}

// marshalEntries returns the entry array, padded to whole sectors.
func (t *Table) marshalEntries() []byte {
	b := make([]byte, t.arraySectors()*uint64(t.SectorSize))
	for _, p := range t.Partitions {
		e := b[(p.Number-1)*EntrySize : p.Number*EntrySize]
		p.Type.encode(e[0:16])
		p.UUID.encode(e[16:32])
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.LastLBA)
		binary.LittleEndian.PutUint64(e[48:], uint64(p.Attributes))
		for i, u := range utf16.Encode([]rune(p.Name)) {
			binary.LittleEndian.PutUint16(e[56+2*i:], u)
		}
	}
	return b
}
