package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"golang.org/x/sync/errgroup"

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
	digest   string // sha256:<hex> the file must have; checked while uploading
	metadata map[string]*string
	workers  int
	progress func(done, total int64)
}

// chunk is a page-aligned range of at most MaxPutPages bytes that may hold
// data.
type chunk struct{ off, n int64 }

// chunks splits the data extents of a file of size bytes into page-aligned
// ranges that never cross a MaxPutPages boundary.
func chunks(ext []sparse.Extent, size int64) []chunk {
	var out []chunk
	for _, e := range sparse.Normalize(ext, size) {
		start := e.Offset / PageSize * PageSize
		end := min((e.End()+PageSize-1)/PageSize*PageSize, size)
		if n := len(out); n > 0 && out[n-1].off+out[n-1].n > start {
			start = out[n-1].off + out[n-1].n // extents sharing a page
		}
		for start < end {
			lim := min(end, (start/MaxPutPages+1)*MaxPutPages)
			if n := len(out); n > 0 && out[n-1].off+out[n-1].n == start && out[n-1].off/MaxPutPages == start/MaxPutPages {
				out[n-1].n = lim - out[n-1].off
			} else {
				out = append(out, chunk{start, lim - start})
			}
			start = lim
		}
	}
	return out
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

// uploadPageBlob creates the page blob c of the size of f and writes the
// pages of f that hold data, in parallel: holes are never read and zero
// pages never sent, since a page blob's unwritten pages read as zeros.
// Each request carries the Content-MD5 of its pages, which the service
// checks; the whole file is hashed meanwhile and must have s.digest. The blob is left in place on failure: the caller deletes it.
func uploadPageBlob(ctx context.Context, c *pageblob.Client, f *os.File, size int64, s blobSpec) (UploadStats, error) {
	st := UploadStats{Size: size}
	if size%PageSize != 0 {
		return st, fmt.Errorf("%w: %s: size %d is not a multiple of %d", ErrArtifact, f.Name(), size, PageSize)
	}
	ext, err := sparse.Extents(f)
	if err != nil {
		return st, fmt.Errorf("azure: %w", err)
	}
	cs := chunks(ext, size)
	var total int64
	for _, c := range cs {
		total += c.n
	}
	if _, err := c.Create(ctx, size, &pageblob.CreateOptions{Metadata: s.metadata}); err != nil {
		return st, fmt.Errorf("azure: create page blob %s: %w", c.URL(), err)
	}

	var sent, reqs atomic.Int64
	var pmu sync.Mutex // progress calls are serialized and monotonic
	var done int64
	pool := sync.Pool{New: func() any { b := make([]byte, MaxPutPages); return &b }}
	g, gctx := errgroup.WithContext(ctx)
	if s.digest != "" {
		g.Go(func() error {
			got, err := hashFile(gctx, f, size, ext)
			if err != nil {
				return err
			}
			return checkDigest(f.Name(), s.digest, got)
		})
	}
	next := make(chan chunk)
	g.Go(func() error {
		defer close(next)
		for _, c := range cs {
			select {
			case next <- c:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range max(s.workers, 1) {
		g.Go(func() error {
			for ch := range next {
				bp := pool.Get().(*[]byte)
				buf := (*bp)[:ch.n]
				if _, err := f.ReadAt(buf, ch.off); err != nil && !errors.Is(err, io.EOF) {
					pool.Put(bp)
					return fmt.Errorf("azure: read %s at %d: %w", f.Name(), ch.off, err)
				}
				for _, r := range runs(buf) {
					p := buf[r[0]:r[1]]
					sum := md5.Sum(p)
					_, err := c.UploadPages(gctx, streaming.NopCloser(bytes.NewReader(p)),
						blob.HTTPRange{Offset: ch.off + int64(r[0]), Count: int64(len(p))},
						&pageblob.UploadPagesOptions{TransactionalValidation: blob.TransferValidationTypeMD5(sum[:])})
					if err != nil {
						pool.Put(bp)
						return fmt.Errorf("azure: put pages [%d, %d) of %s: %w", ch.off+int64(r[0]), ch.off+int64(r[1]), c.URL(), err)
					}
					sent.Add(int64(len(p)))
					reqs.Add(1)
				}
				pool.Put(bp)
				if s.progress != nil {
					pmu.Lock()
					done += ch.n
					s.progress(done, total)
					pmu.Unlock()
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	st.Requests = int(reqs.Load())
	st.BytesSent = sent.Load()
	st.BytesSkipped = size - st.BytesSent
	return st, nil
}
