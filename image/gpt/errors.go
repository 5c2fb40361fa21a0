package gpt

import (
	"errors"
	"fmt"
)

// Sentinel errors of package gpt.
var (
	// ErrInvalid reports a partition table that fails validation; the
	// errors below wrap it, and [FieldError] says where.
	ErrInvalid = errors.New("gpt: invalid partition table")
	// ErrMBR reports a missing or non-protective MBR.
	ErrMBR = fmt.Errorf("%w: protective MBR", ErrInvalid)
	// ErrSignature reports a header without "EFI PART" or with an
	// unsupported revision or size.
	ErrSignature = fmt.Errorf("%w: header", ErrInvalid)
	// ErrCRC reports a header or entry array whose CRC32 does not match.
	ErrCRC = fmt.Errorf("%w: CRC32 mismatch", ErrInvalid)
	// ErrBounds reports an LBA outside the disk or outside the area it
	// must lie in.
	ErrBounds = fmt.Errorf("%w: out of bounds", ErrInvalid)
	// ErrOverlap reports partitions or structures that overlap.
	ErrOverlap = fmt.Errorf("%w: overlap", ErrInvalid)
	// ErrEntries reports an entry size or count outside the limits.
	ErrEntries = fmt.Errorf("%w: entry array size", ErrInvalid)
	// ErrDuplicate reports two partitions with the same unique GUID, or a
	// used entry with the zero GUID.
	ErrDuplicate = fmt.Errorf("%w: partition GUID", ErrInvalid)
	// ErrBackup reports a backup header or array that disagrees with the
	// primary.
	ErrBackup = fmt.Errorf("%w: backup disagrees with primary", ErrInvalid)

	// ErrLayout reports a table that cannot be built as asked: bad disk
	// or sector size, a name too long, no room left.
	ErrLayout = errors.New("gpt: layout")
	// ErrNoSpace reports a partition that does not fit in the disk.
	ErrNoSpace = fmt.Errorf("%w: no space left", ErrLayout)
	// ErrGUID reports a malformed GUID string.
	ErrGUID = errors.New("gpt: malformed GUID")
)

// FieldError says which structure and field of a table is wrong.
type FieldError struct {
	Where string // "mbr", "primary header", "backup header", "entry 3", "disk"
	Field string // e.g. "HeaderCRC32", "StartingLBA"
	Value any
	Err   error // one of the sentinels above
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s %s = %v", e.Err, e.Where, e.Field, e.Value)
}

func (e *FieldError) Unwrap() error { return e.Err }
