package gpt

import (
	"fmt"
	"sort"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits and defaults.
const (
	// DefaultEntries is the number of entries in each array (16 KiB of
	// 128-byte entries), the UEFI minimum and what every tool writes.
	DefaultEntries = 128
	// EntrySize is the size of an entry that this package writes.
	EntrySize = 128
	// MaxEntryArray is the largest entry array Read accepts, in bytes.
	MaxEntryArray = 1 << 20
	// MaxEntrySize is the largest entry size Read accepts.
	MaxEntrySize = 4096
	// MaxNameLen is the longest partition name, in UTF-16 code units.
	MaxNameLen = 36
	// Alignment is where [Table.Add] starts partitions: 1 MiB boundaries.
	Alignment = 1 << 20
)

// Partition is one used entry of a table.
type Partition struct {
	Number     int    // 1-based entry index; 0 lets Write use the next free one
	Type       GUID   // partition type, e.g. TypeESP
	UUID       GUID   // unique partition GUID
	Name       string // at most 36 UTF-16 code units
	FirstLBA   uint64 // first sector, inclusive
	LastLBA    uint64 // last sector, inclusive
	Attributes Attributes
}

// Sectors returns the number of sectors of the partition.
func (p Partition) Sectors() uint64 { return p.LastLBA - p.FirstLBA + 1 }

// Table is a GUID partition table of one disk.
type Table struct {
	DiskGUID   GUID
	SectorSize int    // logical sector size: 512 or 4096
	Sectors    uint64 // disk size in sectors
	Entries    int    // entries in each array; DefaultEntries if 0
	Partitions []Partition
}

// New returns an empty table for a disk of diskSize bytes (a multiple of
// sectorSize, which is 512 or 4096) with the given disk GUID.
func New(diskSize int64, sectorSize int, diskGUID GUID) (*Table, error) {
	if sectorSize != 512 && sectorSize != 4096 {
		return nil, &FieldError{"disk", "SectorSize", sectorSize, ErrLayout}
	}
	if diskSize <= 0 || diskSize%int64(sectorSize) != 0 {
		return nil, &FieldError{"disk", "Size", fmt.Sprintf("%d (not a positive multiple of %d)", diskSize, sectorSize), ErrLayout}
	}
	t := &Table{DiskGUID: diskGUID, SectorSize: sectorSize, Sectors: uint64(diskSize / int64(sectorSize)), Entries: DefaultEntries}
	if t.FirstUsableLBA() > t.LastUsableLBA() {
		return nil, &FieldError{"disk", "Size", fmt.Sprintf("%d (too small for a GPT)", diskSize), ErrLayout}
	}
	return t, nil
}

func (t *Table) entries() int {
	if t.Entries <= 0 {
		return DefaultEntries
	}
	return t.Entries
}

// arraySectors is the size of one entry array in sectors.
func (t *Table) arraySectors() uint64 {
	return uint64((t.entries()*EntrySize + t.SectorSize - 1) / t.SectorSize)
}

// FirstUsableLBA is the first sector after the primary entry array.
func (t *Table) FirstUsableLBA() uint64 { return 2 + t.arraySectors() }

// LastUsableLBA is the last sector before the backup entry array.
func (t *Table) LastUsableLBA() uint64 {
	if t.Sectors < 2+t.arraySectors() {
		return 0
	}
	return t.Sectors - 2 - t.arraySectors()
}

// Add appends a partition of size bytes (rounded up to whole sectors)
// starting at the first 1 MiB boundary after the last partition; size 0
// takes the rest of the usable space. It sets p's Number, FirstLBA and
// LastLBA and returns it.
func (t *Table) Add(p Partition, size int64) (Partition, error) {
	if err := checkName(p.Name); err != nil {
		return p, err
	}
	if size < 0 {
		return p, &FieldError{"partition " + p.Name, "Size", size, ErrLayout}
	}
	if len(t.Partitions) >= t.entries() {
		return p, &FieldError{"partition " + p.Name, "Number", len(t.Partitions) + 1, ErrNoSpace}
	}
	align := uint64(Alignment / t.SectorSize)
	start := t.FirstUsableLBA()
	for _, q := range t.Partitions {
		start = max(start, q.LastLBA+1)
	}
	start = (start + align - 1) / align * align
	last := t.LastUsableLBA()
	if size > 0 {
		n := (uint64(size) + uint64(t.SectorSize) - 1) / uint64(t.SectorSize)
		last = start + n - 1
	}
	if start > t.LastUsableLBA() || last > t.LastUsableLBA() || last < start {
		return p, &FieldError{"partition " + p.Name, "Size", fmt.Sprintf("%d bytes at LBA %d (last usable LBA %d)", size, start, t.LastUsableLBA()), ErrNoSpace}
	}
	p.FirstLBA, p.LastLBA = start, last
	p.Number = t.nextNumber()
	t.Partitions = append(t.Partitions, p)
	return p, nil
}

func (t *Table) nextNumber() int {
	n := 1
	for _, q := range t.Partitions {
		n = max(n, q.Number+1)
	}
	return n
}

func checkName(name string) error {
	if !utf8.ValidString(name) {
		return &FieldError{"partition", "Name", fmt.Sprintf("%q (not UTF-8)", name), ErrLayout}
	}
	if n := len(utf16.Encode([]rune(name))); n > MaxNameLen {
		return &FieldError{"partition", "Name", fmt.Sprintf("%q (%d UTF-16 units, max %d)", name, n, MaxNameLen), ErrLayout}
	}
	return nil
}

// check validates the partitions against the table's geometry.
func (t *Table) check() error { return t.checkIn(t.FirstUsableLBA(), t.LastUsableLBA()) }

// checkIn validates the partitions against the usable area [first, last]:
// numbers, types, names, bounds, overlaps and unique GUIDs.
func (t *Table) checkIn(first, last uint64) error {
	seen := map[GUID]int{}
	nums := map[int]bool{}
	for _, p := range t.Partitions {
		where := fmt.Sprintf("entry %d", p.Number)
		if p.Number < 1 || p.Number > t.entries() || nums[p.Number] {
			return &FieldError{where, "Number", p.Number, ErrBounds}
		}
		nums[p.Number] = true
		if p.Type.IsZero() {
			return &FieldError{where, "PartitionTypeGUID", p.Type, ErrInvalid}
		}
		if p.UUID.IsZero() {
			return &FieldError{where, "UniquePartitionGUID", p.UUID, ErrDuplicate}
		}
		if other, ok := seen[p.UUID]; ok {
			return &FieldError{where, "UniquePartitionGUID", fmt.Sprintf("%s (also entry %d)", p.UUID, other), ErrDuplicate}
		}
		seen[p.UUID] = p.Number
		if p.FirstLBA > p.LastLBA {
			return &FieldError{where, "EndingLBA", fmt.Sprintf("%d (before StartingLBA %d)", p.LastLBA, p.FirstLBA), ErrBounds}
		}
		if p.FirstLBA < first {
			return &FieldError{where, "StartingLBA", fmt.Sprintf("%d (first usable LBA %d)", p.FirstLBA, first), ErrBounds}
		}
		if p.LastLBA > last {
			return &FieldError{where, "EndingLBA", fmt.Sprintf("%d (last usable LBA %d)", p.LastLBA, last), ErrBounds}
		}
		if err := checkName(p.Name); err != nil {
			return err
		}
	}
	byStart := append([]Partition(nil), t.Partitions...)
	sort.Slice(byStart, func(i, j int) bool { return byStart[i].FirstLBA < byStart[j].FirstLBA })
	for i := 1; i < len(byStart); i++ {
		if a, b := byStart[i-1], byStart[i]; b.FirstLBA <= a.LastLBA {
			return &FieldError{fmt.Sprintf("entry %d", b.Number), "StartingLBA",
				fmt.Sprintf("%d (inside entry %d, LBA %d-%d)", b.FirstLBA, a.Number, a.FirstLBA, a.LastLBA), ErrOverlap}
		}
	}
	return nil
}
