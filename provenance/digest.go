package provenance

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hardvm/hardvm/internal/sparse"

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

// FileDigest returns the SHA-256 digest of the file at path, as
// [FileDigestContext] computes it, without a way to stop it: for small
// files. Hash disks with FileDigestContext.
func FileDigest(path string) (digest.Digest, error) {
	return FileDigestContext(context.Background(), path)
}

// FileDigestContext returns the SHA-256 digest of the file at path. It
// reads only the file's data and hashes its holes from memory as the zeros
// they read as (a sparse disk of gigabytes of holes costs its hashing, not
// a read of every hole), and stops when ctx is done.
func FileDigestContext(ctx context.Context, path string) (digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, err := sparse.SHA256(ctx, f)
	if err != nil {
		return "", err
	}
	return digest.NewDigestFromBytes(digest.SHA256, sum), nil
}

// ReaderDigest returns the SHA-256 digest of everything r yields.
func ReaderDigest(r io.Reader) (digest.Digest, error) {
	return digest.SHA256.FromReader(r)
}
