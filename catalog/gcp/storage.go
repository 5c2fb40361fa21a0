package gcp

import (
	"context"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/storage"

	"github.com/hardvm/hardvm/catalog"
)

// uploadObject streams src to gs://bucket/object with the given metadata,
// in one pass: src hashes what it sends and withholds the file's last
// bytes until the digest is verified, and the resumable upload is only
// finalized once it has them; the storage client sends the CRC32C of
// everything written with the final request, which the server checks. A
// failed upload (a wrong digest included) is abandoned: no object is
// created.
func uploadObject(ctx context.Context, c *storage.Client, bucket, object string, src *catalog.ArtifactFile, meta map[string]string, chunk int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := c.Bucket(bucket).Object(object).NewWriter(ctx)
	w.ContentType = "application/gzip"
	w.Metadata = meta
	w.ChunkSize = chunk
	if _, err := io.Copy(w, src.Reader()); err != nil {
		cancel() // before Close: the upload is abandoned, not finalized
		w.Close()
		return fmt.Errorf("gcp: upload gs://%s/%s: %w", bucket, object, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gcp: upload gs://%s/%s: %w", bucket, object, err)
	}
	return nil
}

// deleteObject removes an object, ignoring one that does not exist.
func deleteObject(ctx context.Context, c *storage.Client, bucket, object string) error {
	err := c.Bucket(bucket).Object(object).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("gcp: delete gs://%s/%s: %w", bucket, object, err)
	}
	return nil
}
