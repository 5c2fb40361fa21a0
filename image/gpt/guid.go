package gpt

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// GUID is a 128-bit identifier in the byte order of its string form
// (RFC 4122, "big-endian"): GUID{0x4f, 0x68, ...} is 4f68....
type GUID [16]byte

// ParseGUID parses the 36-character form "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
// (either case).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("%w: %q", ErrGUID, s)
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	if err != nil {
		return g, fmt.Errorf("%w: %q: %w", ErrGUID, s, err)
	}
	copy(g[:], b)
	return g, nil
}

// mustGUID parses a GUID literal of this package.
func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err) // only ever called with the literals below
	}
	return g
}

// String returns the lower-case 36-character form.
func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// IsZero reports whether g is the nil GUID (an unused entry's type).
func (g GUID) IsZero() bool { return g == GUID{} }

// MarshalText encodes the GUID in its string form.
func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText parses the string form.
func (g *GUID) UnmarshalText(b []byte) error {
	p, err := ParseGUID(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*g = p
	return nil
}

// encode writes g in GPT's on-disk mixed-endian order to b[0:16].
func (g GUID) encode(b []byte) {
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	copy(b[8:16], g[8:16])
}

// decodeGUID reads a GUID in GPT's on-disk order.
func decodeGUID(b []byte) GUID {
	var g GUID
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:16], b[8:16])
	return g
}

// VerityPartitionUUIDs returns the partition UUIDs that the DPS verity
// convention gives a root partition and its verity partition: the first
// and the last 128 bits of the root hash, byte for byte (as systemd-repart
// writes them and systemd's dissect code matches them). The root hash must
// be at least 16 bytes and neither half may be all zeros.
func VerityPartitionUUIDs(rootHash []byte) (root, verity GUID, err error) {
	if len(rootHash) < 16 {
		return root, verity, fmt.Errorf("%w: root hash of %d bytes (want at least 16)", ErrLayout, len(rootHash))
	}
	copy(root[:], rootHash[:16])
	copy(verity[:], rootHash[len(rootHash)-16:])
	if root.IsZero() || verity.IsZero() {
		return root, verity, fmt.Errorf("%w: root hash gives a nil partition UUID", ErrLayout)
	}
	return root, verity, nil
}
