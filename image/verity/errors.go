package verity

import (
	"errors"
	"fmt"
)

// Sentinel errors of package verity.
var (
	// ErrParams reports parameters that veritysetup would refuse or that
	// do not fit the data (see [FieldError] for which one).
	ErrParams = errors.New("verity: invalid parameters")
	// ErrSuperblock reports a hash device whose superblock is missing or
	// malformed (see [FieldError] for which field).
	ErrSuperblock = errors.New("verity: bad superblock")
	// ErrShortRead reports a data or hash device shorter than the
	// superblock or the parameters say.
	ErrShortRead = errors.New("verity: device too short")
	// ErrVerify reports a device that fails verification; [ErrMismatch]
	// and [ErrRootHash] wrap it.
	ErrVerify = errors.New("verity: verification failed")
	// ErrMismatch reports a block whose hash does not match the hash
	// stored for it (see [BlockError] for which block).
	ErrMismatch = fmt.Errorf("%w: hash mismatch", ErrVerify)
	// ErrRootHash reports a tree that is consistent but whose root hash
	// is not the expected one.
	ErrRootHash = fmt.Errorf("%w: root hash mismatch", ErrVerify)
	// ErrBadRootHash reports a root hash string that is not hex of a
	// supported digest size.
	ErrBadRootHash = errors.New("verity: malformed root hash")
)

// FieldError says which parameter or superblock field is wrong.
type FieldError struct {
	Field string // e.g. "salt", "data_block_size", "superblock.version"
	Value any    // the offending value
	Err   error  // ErrParams or ErrSuperblock, possibly wrapped
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s = %v", e.Err, e.Field, e.Value)
}

func (e *FieldError) Unwrap() error { return e.Err }

// BlockError names the first block that failed verification.
type BlockError struct {
	// Device is "data" for a data block whose digest differs from the
	// leaf hash stored for it, or "hash" for a hash block whose digest
	// differs from the one stored in the level above.
	Device string
	// Level is the tree level of the stored hash that did not match: 0
	// for the leaf level (data blocks), higher for hash blocks.
	Level int
	// Block is the index of the failing block in its device, in units of
	// its block size (for "hash", counted from the start of the hash
	// area, the superblock being block 0).
	Block uint64
	Err   error // ErrMismatch
}

func (e *BlockError) Error() string {
	return fmt.Sprintf("%v: %s block %d (tree level %d)", e.Err, e.Device, e.Block, e.Level)
}

func (e *BlockError) Unwrap() error { return e.Err }
