package vdisk

import (
	"errors"
	"fmt"
)

// Sentinel errors of package vdisk. [Inspect] wraps the ones below ErrInvalid
// in a [*FieldError] naming the field it refused.
var (
	// ErrInvalid reports a disk file whose header is malformed or unsafe.
	ErrInvalid = errors.New("vdisk: invalid disk file")
	// ErrBackingFile reports a disk that refers to a backing (parent) file.
	ErrBackingFile = fmt.Errorf("%w: refers to a backing file", ErrInvalid)
	// ErrExternalData reports a disk whose data lives in another file.
	ErrExternalData = fmt.Errorf("%w: data in an external file", ErrInvalid)
	// ErrUnsupported reports a valid feature that vdisk does not accept
	// (encryption, snapshots, an unknown incompatible feature, a disk type).
	ErrUnsupported = fmt.Errorf("%w: unsupported feature", ErrInvalid)
	// ErrTooLarge reports a size or table beyond what vdisk accepts.
	ErrTooLarge = fmt.Errorf("%w: size out of bounds", ErrInvalid)
	// ErrMismatch reports two parts of a file that contradict each other
	// (a footer and a header, a checksum and its data).
	ErrMismatch = fmt.Errorf("%w: inconsistent", ErrInvalid)

	// ErrFormat reports a format name vdisk does not know, or a writer
	// asked to inspect a format it cannot read.
	ErrFormat = errors.New("vdisk: unknown or unsupported format")
	// ErrOption reports a writer field with a value out of range.
	ErrOption = errors.New("vdisk: invalid writer option")
	// ErrSource reports a source whose extents do not fit its size.
	ErrSource = errors.New("vdisk: invalid source")
)

// FieldError says which field of which format [Inspect] refused, and why.
type FieldError struct {
	Format Format // the format being read
	Field  string // the header field, e.g. "backing_file_offset"
	Offset int64  // byte offset of the field in the file, -1 if unknown
	Reason string // what is wrong with it
	Err    error  // one of the sentinels above
}

func (e *FieldError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("vdisk: %s: field %s at offset %d: %s", e.Format, e.Field, e.Offset, e.Reason)
	}
	return fmt.Sprintf("vdisk: %s: field %s: %s", e.Format, e.Field, e.Reason)
}

// Unwrap returns the sentinel the error belongs to.
func (e *FieldError) Unwrap() error { return e.Err }
