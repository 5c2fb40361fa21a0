package azure

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/sparse"
)

// PageSize is the page size of Azure page blobs: every write is aligned
// to it.
const PageSize = 512

// MaxPutPages is the most bytes one Put Page request may carry (4 MiB).
const MaxPutPages = 4 << 20

// mergeGap is the longest run of zero pages sent inside a request rather
// than splitting it in two: two requests cost more than 16 KiB of zeros.
const mergeGap = 16 << 10

// UploadStats reports what a page-blob upload sent and what it skipped.
type UploadStats struct {
	Size         int64 // bytes of the blob (the VHD file)
	Requests     int   // Put Page requests sent
	BytesSent    int64 // bytes of page data sent
	BytesSkipped int64 // bytes never sent: holes and all-zero pages
}

// blobSpec is what uploadPageBlob needs besides the file.
type blobSpec struct {
	metadata map[string]string
	workers  int
}

// runs returns the ranges of buf, in whole pages, that hold a non-zero
// byte, merging ranges separated by less than mergeGap of zero pages.
func runs(buf []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(buf); i += PageSize {
		j := min(i+PageSize, len(buf))
		if sparse.IsZero(buf[i:j]) {
			continue
		}
		if n := len(out); n > 0 && i-out[n-1][1] < mergeGap {
			out[n-1][1] = j
		} else {
			out = append(out, [2]int{i, j})
		}
	}
	return out
}

// uploadPageBlob creates the page blob name in c, of the size of src, and writes the
// pages of src that hold data, in parallel, as src hashes the file: holes
// are never read and zero pages never sent, since a page blob's unwritten
// pages read as zeros. Each request carries the Content-MD5 of its pages,
// which the service checks. The file's last chunk (with the VHD footer) is
// written only once src verified the digest of the whole file. The blob
// is left in place on failure: the caller deletes it.
func uploadPageBlob(ctx context.Context, c *Container, name string, src *catalog.ArtifactFile, s blobSpec) (UploadStats, error) {
	size := src.Size()
	st := UploadStats{Size: size}
	if size%PageSize != 0 {
		return st, src.Reject("azure-vhd-fixed", fmt.Errorf("size %d is not a multiple of %d", size, PageSize))
	}
	if err := c.createPageBlob(ctx, name, size, s.metadata); err != nil {
		return st, fmt.Errorf("azure: create page blob %s: %w", c.BlobURL(name), err)
	}
	var sent, reqs atomic.Int64
	err := src.Chunks(ctx, catalog.ChunkOptions{Size: MaxPutPages, Workers: s.workers, Sparse: true, Align: PageSize}, func(ctx context.Context, off int64, b []byte) error {
		for _, r := range runs(b) {
			p := b[r[0]:r[1]]
			if err := c.putPages(ctx, name, off+int64(r[0]), p); err != nil {
				return fmt.Errorf("azure: put pages [%d, %d) of %s: %w", off+int64(r[0]), off+int64(r[1]), c.BlobURL(name), err)
			}
			sent.Add(int64(len(p)))
			reqs.Add(1)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Requests = int(reqs.Load())
	st.BytesSent = sent.Load()
	st.BytesSkipped = size - st.BytesSent
	return st, nil
}
