package provenance

import (
	"fmt"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
)

// sha256Hex returns the hex of a "sha256:<hex>" digest, checking its form
// (lower-case hex of the right length, as go-digest validates it).
func sha256Hex(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("digest %q: want sha256:<64 hex digits>", d)
	}
	return d.Encoded(), nil
}

// FileDigest returns the SHA-256 digest of the file at path, streaming it.
func FileDigest(path string) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return ReaderDigest(f)
}

// ReaderDigest returns the SHA-256 digest of everything r yields.
func ReaderDigest(r io.Reader) (digest.Digest, error) {
	return digest.SHA256.FromReader(r)
}
