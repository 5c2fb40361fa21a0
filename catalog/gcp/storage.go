package gcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"cloud.google.com/go/storage"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/progress"
)

// uploadObject streams the file at path to gs://bucket/object with the
// given metadata. A first streaming pass computes the CRC32C, sent with the
// upload so that the server rejects a corrupted upload, and the SHA-256,
// which must equal wantDigest when it is given: nothing is uploaded
// otherwise. A failed upload leaves no object behind.
func uploadObject(ctx context.Context, c *storage.Client, bucket, object, path, wantDigest string, meta map[string]string, chunk int, report progress.Reporter) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("gcp: %w", err)
	}
	defer f.Close()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	sum := sha256.New()
	size, err := io.Copy(io.MultiWriter(h, sum), f)
	if err != nil {
		return 0, fmt.Errorf("gcp: read %s: %w", path, err)
	}
	if got := "sha256:" + hex.EncodeToString(sum.Sum(nil)); wantDigest != "" && got != wantDigest {
		return 0, &ArtifactError{Path: path, Msg: fmt.Sprintf("digest %s, the artifact says %s", got, wantDigest), Err: catalog.ErrDigest}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("gcp: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := c.Bucket(bucket).Object(object).NewWriter(ctx)
	w.ContentType = "application/gzip"
	w.Metadata = meta
	w.CRC32C = h.Sum32()
	w.SendCRC32C = true
	w.ChunkSize = chunk
	cnt := progress.NewCounter(report, "upload "+object, size)
	if _, err := io.Copy(progress.Writer(w, cnt), f); err != nil {
		cancel() // abandons the resumable upload: no object is created
		w.Close()
		return 0, fmt.Errorf("gcp: upload gs://%s/%s: %w", bucket, object, err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("gcp: upload gs://%s/%s: %w", bucket, object, err)
	}
	cnt.Done()
	return size, nil
}

// deleteObject removes an object, ignoring one that does not exist.
func deleteObject(ctx context.Context, c *storage.Client, bucket, object string) error {
	err := c.Bucket(bucket).Object(object).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("gcp: delete gs://%s/%s: %w", bucket, object, err)
	}
	return nil
}
