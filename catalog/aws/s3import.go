package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync/atomic"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/vm"
)

// S3API is the part of the S3 client the import path uses; *s3.Client
// satisfies it.
type S3API interface {
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// ImportAPI is the part of the EC2 client ImportSnapshot needs.
type ImportAPI interface {
	ImportSnapshot(ctx context.Context, in *ec2.ImportSnapshotInput, opts ...func(*ec2.Options)) (*ec2.ImportSnapshotOutput, error)
	DescribeImportSnapshotTasks(ctx context.Context, in *ec2.DescribeImportSnapshotTasksInput, opts ...func(*ec2.Options)) (*ec2.DescribeImportSnapshotTasksOutput, error)
}

// partSize is the multipart upload part size: S3 allows at most 10,000
// parts, so parts of 64 MiB carry disks up to 625 GiB.
const partSize = 64 << 20

// importFormats maps disk formats to ImportSnapshot's names. A
// streamOptimized VMDK is the compact choice: its holes are not uploaded.
var importFormats = map[vm.DiskFormat]string{vm.FormatVMDK: "VMDK", vm.FormatVHD: "VHD", vm.FormatRaw: "RAW"}

// uploadMultipart streams the file to s3://bucket/key in parts, several at
// once (memory: workers × part size), and aborts the upload on failure so
// that no parts are left behind.
func uploadMultipart(ctx context.Context, api S3API, bucket, key string, f *os.File, size int64, meta map[string]string, workers int, progress func(done, total int64)) error {
	cu, err := api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, Metadata: meta})
	if err != nil {
		return fmt.Errorf("aws: s3://%s/%s: CreateMultipartUpload: %w", bucket, key, err)
	}
	abort := func() {
		api.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cu.UploadId})
	}
	n := int((size + partSize - 1) / partSize)
	if n == 0 {
		n = 1
	}
	if n > 10000 {
		abort()
		return fmt.Errorf("aws: %s: %d bytes need more than 10,000 parts of %d", f.Name(), size, partSize)
	}
	parts := make([]s3types.CompletedPart, n)
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	for i := range n {
		g.Go(func() error {
			off := int64(i) * partSize
			ln := min(partSize, size-off)
			buf := make([]byte, ln)
			if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("aws: read %s at %d: %w", f.Name(), off, err)
			}
			out, err := api.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: &bucket, Key: &key, UploadId: cu.UploadId,
				PartNumber: awsv2.Int32(int32(i + 1)), Body: bytesReader(buf), ContentLength: awsv2.Int64(ln),
			})
			if err != nil {
				return fmt.Errorf("aws: s3://%s/%s: part %d: %w", bucket, key, i+1, err)
			}
			parts[i] = s3types.CompletedPart{ETag: out.ETag, PartNumber: awsv2.Int32(int32(i + 1))}
			if d := done.Add(ln); progress != nil {
				progress(d, size)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		abort()
		return err
	}
	sort.Slice(parts, func(a, b int) bool { return *parts[a].PartNumber < *parts[b].PartNumber })
	if _, err := api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: cu.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		abort()
		return fmt.Errorf("aws: s3://%s/%s: CompleteMultipartUpload: %w", bucket, key, err)
	}
	return nil
}

// importSnapshot imports the uploaded disk into an EBS snapshot and waits
// for the import task; it returns the snapshot id.
func importSnapshot(ctx context.Context, api ImportAPI, bucket, key, format, desc, token string, tags map[string]string, every time.Duration) (string, error) {
	out, err := api.ImportSnapshot(ctx, &ec2.ImportSnapshotInput{
		Description: &desc,
		ClientToken: optional(token),
		DiskContainer: &ec2types.SnapshotDiskContainer{
			Format: &format, Description: &desc,
			UserBucket: &ec2types.UserBucket{S3Bucket: &bucket, S3Key: &key},
		},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeImportSnapshotTask, Tags: ec2Tags(tags)}},
	})
	if err != nil {
		return "", fmt.Errorf("aws: ImportSnapshot s3://%s/%s: %w", bucket, key, err)
	}
	id := awsv2.ToString(out.ImportTaskId)
	for {
		d, err := api.DescribeImportSnapshotTasks(ctx, &ec2.DescribeImportSnapshotTasksInput{ImportTaskIds: []string{id}})
		if err != nil {
			return "", fmt.Errorf("aws: DescribeImportSnapshotTasks %s: %w", id, err)
		}
		if len(d.ImportSnapshotTasks) != 1 || d.ImportSnapshotTasks[0].SnapshotTaskDetail == nil {
			return "", fmt.Errorf("aws: import task %s: no task in the answer", id)
		}
		det := d.ImportSnapshotTasks[0].SnapshotTaskDetail
		switch awsv2.ToString(det.Status) {
		case "completed":
			return awsv2.ToString(det.SnapshotId), nil
		case "deleted", "deleting", "error":
			return "", fmt.Errorf("aws: import task %s: %s: %s", id, awsv2.ToString(det.Status), awsv2.ToString(det.StatusMessage))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(every):
		}
	}
}
