package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"sync"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	ebstypes "github.com/aws/aws-sdk-go-v2/service/ebs/types"

	"github.com/hardvm/hardvm/catalog"
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
}

// uploadSnapshot writes the raw disk of src to a new EBS snapshot through
// the EBS direct APIs: StartSnapshot, then PutSnapshotBlock for every block
// that holds a non-zero byte (holes are never read, holes and zero blocks
// never sent), in parallel, as src hashes the disk, then CompleteSnapshot
// with the linear aggregate SHA-256, only once src verified the disk's
// digest. A snapshot that is not completed can make no AMI, and EBS moves
// it to the error state once its timeout passes. uploadSnapshot returns the
// snapshot id also on failure once the snapshot was started, so that the
// caller deletes it.
func uploadSnapshot(ctx context.Context, api EBSAPI, src *catalog.ArtifactFile, s snapshotSpec) (string, UploadStats, error) {
	size := src.Size()
	st := UploadStats{VirtualSize: size}
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

	var mu sync.Mutex
	sums := map[int32][]byte{} // of the blocks sent, by index
	err = src.Chunks(ctx, catalog.ChunkOptions{Size: BlockSize, Workers: s.workers, Sparse: true}, func(ctx context.Context, off int64, b []byte) error {
		if sparse.IsZero(b) {
			return nil
		}
		if len(b) < BlockSize { // the last block of a disk not a multiple of 512 KiB
			b = append(bytes.Clone(b), make([]byte, BlockSize-len(b))...)
		}
		idx := int32(off / BlockSize)
		sum := sha256.Sum256(b)
		_, err := api.PutSnapshotBlock(ctx, &ebs.PutSnapshotBlockInput{
			SnapshotId:        awsv2.String(id),
			BlockIndex:        awsv2.Int32(idx),
			BlockData:         bytes.NewReader(b),
			DataLength:        awsv2.Int32(BlockSize),
			Checksum:          awsv2.String(base64.StdEncoding.EncodeToString(sum[:])),
			ChecksumAlgorithm: ebstypes.ChecksumAlgorithmChecksumAlgorithmSha256,
			Progress:          awsv2.Int32(int32(100 * (off + BlockSize) / max(size, off+BlockSize))),
		})
		if err != nil {
			return fmt.Errorf("aws: PutSnapshotBlock %d of %s: %w", idx, id, err)
		}
		mu.Lock()
		sums[idx] = sum[:]
		mu.Unlock()
		return nil
	})
	if err != nil {
		return id, st, err
	}
	st.Blocks = len(sums)
	st.BytesSent = int64(st.Blocks) * BlockSize
	st.BytesZero = max(size-st.BytesSent, 0)

	// Linear aggregation: SHA-256 over the blocks' SHA-256 digests in block
	// index order (AWS EBS direct API, "Use checksums").
	idx := slices.Sorted(maps.Keys(sums))
	agg := sha256.New()
	for _, i := range idx {
		agg.Write(sums[i])
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
		return id, st, fmt.Errorf("%w: snapshot %s completed with status %s", ErrOperation, id, out.Status)
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
