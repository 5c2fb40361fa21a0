package web

import (
	"errors"
	"fmt"

	digest "github.com/opencontainers/go-digest"
)

var (
	// ErrUnavailable reports a file the catalog records (a disk, an
	// attachment) that no file source holds. Verification then cannot
	// read its bytes: the result is incomplete, not failed.
	ErrUnavailable = errors.New("web: file not available")
	// ErrOption reports an invalid option.
	ErrOption = errors.New("web: invalid option")
	// ErrDigest reports bytes whose SHA-256 is not the digest the catalog
	// records for them.
	ErrDigest = errors.New("web: digest mismatch")
)

// DigestError says which file had which digest instead of the recorded one.
type DigestError struct {
	What string        // what was read: an artifact name, an attachment kind
	Want digest.Digest // the digest the catalog records
	Got  digest.Digest // the digest of the bytes read ("" when the size differed)
	Size int64         // bytes read
}

func (e *DigestError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("web: %s: %d bytes read, not the recorded size", e.What, e.Size)
	}
	return fmt.Sprintf("web: %s: bytes read have digest %s, the catalog records %s", e.What, e.Got, e.Want)
}

// Unwrap returns ErrDigest.
func (e *DigestError) Unwrap() error { return ErrDigest }

// ErrMismatch reports a catalog record (its package list, its verity root
// hash, an unsigned copy of a statement) that differs from what the signed
// statements say.
var ErrMismatch = errors.New("web: catalog record differs from the signed statement")
