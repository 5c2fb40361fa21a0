package azure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/sparse"
)

// hashFile returns the sha256 digest of the file f of size bytes, reading
// only its data extents and hashing holes as the zeros they read as. It
// runs beside the upload workers, so the digest is known when the upload
// ends without a pass of its own before it.
func hashFile(ctx context.Context, f *os.File, size int64, ext []sparse.Extent) (string, error) {
	h := sha256.New()
	zeros := make([]byte, 1<<20)
	buf := make([]byte, 1<<20)
	pad := func(n int64) {
		for n > 0 {
			k := min(n, int64(len(zeros)))
			h.Write(zeros[:k])
			n -= k
		}
	}
	var off int64
	for _, e := range sparse.Normalize(ext, size) {
		pad(e.Offset - off)
		r := io.NewSectionReader(f, e.Offset, e.Length)
		for {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			n, err := r.Read(buf)
			h.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("azure: read %s: %w", f.Name(), err)
			}
		}
		off = e.End()
	}
	pad(size - off)
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// checkDigest fails with a *catalog.DigestError unless got is want.
func checkDigest(name, want, got string) error {
	if got != want {
		return &catalog.DigestError{What: name, Want: want, Got: got}
	}
	return nil
}
