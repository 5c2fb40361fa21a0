package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"
	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/internal/sparse"
)

// BlockSize is the EBS direct API's block size: snapshots are written in
// blocks of 512 KiB.
const BlockSize = 512 << 10

// EBSAPI is the part of the EBS direct API client the registrar uses;
// *ebs.Client satisfies it.
type EBSAPI interface {
	StartSnapshot(ctx context.Context, in *ebs.StartSnapshotInput, opts ...func(*ebs.Options)) (*ebs.StartSnapshotOutput, error)
	PutSnapshotBlock(ctx context.Context, in *ebs.PutSnapshotBlockInput, opts ...func(*ebs.Options)) (*ebs.PutSnapshotBlockOutput, error)
	CompleteSnapshot(ctx context.Context, in *ebs.CompleteSnapshotInput, opts ...func(*ebs.Options)) (*ebs.CompleteSnapshotOutput, error)
}

// UploadStats reports what a snapshot upload sent and what it skipped.
type UploadStats struct {
	VirtualSize int64 // bytes of the disk
	Blocks      int   // blocks written
	BytesSent   int64 // bytes of block data sent
	BytesZero   int64 // bytes never sent: holes and all-zero blocks
}

// snapshotSpec is what uploadSnapshot needs besides the disk.
type snapshotSpec struct {
	description string
	tags        map[string]string
	clientToken string // idempotency: the same token starts the same snapshot
	workers     int
	progress    func(done, total int64)
}

// uploadSnapshot writes the raw disk in f to a new EBS snapshot through the
// EBS direct APIs: StartSnapshot, then PutSnapshotBlock for every block that
// holds a non-zero byte (holes and zero blocks are never sent), in
// parallel, then CompleteSnapshot with the linear aggregate SHA-256. It
// returns the snapshot id also on failure once the snapshot was started, so
// that the caller can delete it.
func uploadSnapshot(ctx context.Context, api EBSAPI, f *os.File, size int64, s snapshotSpec) (string, UploadStats, error) {
	st := UploadStats{VirtualSize: size}
	ext, err := sparse.Extents(f)
	if err != nil {
		return "", st, err
	}
	ext = sparse.Normalize(ext, size)
	// The candidate blocks: every block an extent touches, in order.
	var blocks []int32
	for _, e := range ext {
		for b := e.Offset / BlockSize; b*BlockSize < e.End(); b++ {
			if n := len(blocks); n == 0 || int64(blocks[n-1]) < b {
				blocks = append(blocks, int32(b))
			}
		}
	}
	gib := (size + (1 << 30) - 1) >> 30
	start, err := api.StartSnapshot(ctx, &ebs.StartSnapshotInput{
		VolumeSize:  awsv2.Int64(gib),
		Description: awsv2.String(s.description),
		Tags:        ebsTags(s.tags),
		ClientToken: optional(s.clientToken),
		Timeout:     awsv2.Int32(60),
	})
	if err != nil {
		return "", st, fmt.Errorf("aws: StartSnapshot: %w", err)
	}
	id := awsv2.ToString(start.SnapshotId)
	if bs := awsv2.ToInt32(start.BlockSize); bs != 0 && bs != BlockSize {
		return id, st, fmt.Errorf("aws: snapshot %s has block size %d, want %d", id, bs, BlockSize)
	}

	workers := max(s.workers, 1)
	sums := make([][]byte, len(blocks)) // per candidate; nil for zero blocks
	var sent, zero atomic.Int64
	var written atomic.Int32
	pool := sync.Pool{New: func() any { b := make([]byte, BlockSize); return &b }}
	g, gctx := errgroup.WithContext(ctx)
	next := make(chan int)
	g.Go(func() error {
		defer close(next)
		for i := range blocks {
			select {
			case next <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			for i := range next {
				bp := pool.Get().(*[]byte)
				buf := *bp
				off := int64(blocks[i]) * BlockSize
				n, err := f.ReadAt(buf, off)
				if err != nil && !errors.Is(err, io.EOF) {
					pool.Put(bp)
					return fmt.Errorf("aws: read block %d of %s: %w", blocks[i], f.Name(), err)
				}
				clear(buf[n:]) // the last block of a disk not a multiple of 512 KiB
				if sparse.IsZero(buf) {
					zero.Add(BlockSize)
					pool.Put(bp)
					continue
				}
				sum := sha256.Sum256(buf)
				sums[i] = sum[:]
				_, err = api.PutSnapshotBlock(gctx, &ebs.PutSnapshotBlockInput{
					SnapshotId:        awsv2.String(id),
					BlockIndex:        awsv2.Int32(blocks[i]),
					BlockData:         bytes.NewReader(buf),
					DataLength:        awsv2.Int32(BlockSize),
					Checksum:          awsv2.String(base64.StdEncoding.EncodeToString(sum[:])),
					ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
					Progress:          awsv2.Int32(int32(100 * (i + 1) / len(blocks))),
				})
				pool.Put(bp)
				if err != nil {
					return fmt.Errorf("aws: PutSnapshotBlock %d of %s: %w", blocks[i], id, err)
				}
				written.Add(1)
				if d := sent.Add(BlockSize); s.progress != nil {
					s.progress(d, int64(len(blocks))*BlockSize)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return id, st, err
	}
	st.Blocks = int(written.Load())
	st.BytesSent = sent.Load()
	st.BytesZero = size - st.BytesSent

	// Linear aggregation: SHA-256 over the blocks' SHA-256 digests in block
	// index order (AWS EBS direct API, "Use checksums").
	agg := sha256.New()
	for _, s := range sums {
		agg.Write(s)
	}
	out, err := api.CompleteSnapshot(ctx, &ebs.CompleteSnapshotInput{
		SnapshotId:                awsv2.String(id),
		ChangedBlocksCount:        awsv2.Int32(int32(st.Blocks)),
		Checksum:                  awsv2.String(base64.StdEncoding.EncodeToString(agg.Sum(nil))),
		ChecksumAlgorithm:         ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
		ChecksumAggregationMethod: ebstypes.ChecksumAggregationMethodChecksumAggregationLinear,
	})
	if err != nil {
		return id, st, fmt.Errorf("aws: CompleteSnapshot %s: %w", id, err)
	}
	if out.Status == ebstypes.StatusError {
		return id, st, fmt.Errorf("aws: snapshot %s completed with status %s", id, out.Status)
	}
	return id, st, nil
}

func ebsTags(m map[string]string) []ebstypes.Tag {
	var out []ebstypes.Tag
	for _, k := range sortedKeys(m) {
		out = append(out, ebstypes.Tag{Key: awsv2.String(k), Value: awsv2.String(m[k])})
	}
	return out
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
