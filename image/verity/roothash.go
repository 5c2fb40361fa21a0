package verity

import (
	"bytes"
	"encoding/hex"
	"fmt"
)

// RootHash is the root of a dm-verity hash tree: the digest of the top
// hash block (32 bytes for SHA-256, 64 for SHA-512).
type RootHash []byte

// ParseRootHash parses a root hash written in hex, as veritysetup prints it.
func ParseRootHash(s string) (RootHash, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrBadRootHash, s, err)
	}
	if len(b) != 32 && len(b) != 64 {
		return nil, fmt.Errorf("%w: %d bytes (want 32 for sha256 or 64 for sha512)", ErrBadRootHash, len(b))
	}
	return RootHash(b), nil
}

// String returns the root hash in lower-case hex, as veritysetup prints it
// and as the kernel command line's roothash= takes it.
func (h RootHash) String() string { return hex.EncodeToString(h) }

// Hex is the same as String.
func (h RootHash) Hex() string { return h.String() }

// Equal reports whether h and o are the same root hash.
func (h RootHash) Equal(o RootHash) bool { return bytes.Equal(h, o) }

// MarshalText encodes the root hash as hex.
func (h RootHash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a hex root hash.
func (h *RootHash) UnmarshalText(b []byte) error {
	r, err := ParseRootHash(string(b))
	if err != nil {
		return err
	}
	*h = r
	return nil
}
