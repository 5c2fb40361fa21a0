package aws

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/hardvm/hardvm/catalog"
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

// partSize is the multipart upload part size: S3 allows at most 10,000
// parts, so parts of 64 MiB carry disks up to 625 GiB.
const partSize = 64 << 20

// importFormats maps disk formats to ImportSnapshot's names. A
// streamOptimized VMDK is the compact choice: its holes are not uploaded.
var importFormats = map[vm.DiskFormat]string{vm.FormatVMDK: "VMDK", vm.FormatVHD: "VHD", vm.FormatRaw: "RAW"}

// uploadMultipart streams src to s3://bucket/key in parts, several at once
// (memory: (workers + 2) × part size), as src hashes it, and completes the
// upload only once src verified the file's digest: on any failure it
// aborts the upload, so that no object and no parts are left behind.
func uploadMultipart(ctx context.Context, api S3API, bucket, key string, src *catalog.ArtifactFile, meta map[string]string, workers int) error {
	n := (src.Size() + partSize - 1) / partSize
	if n > 10000 {
		return fmt.Errorf("aws: %s: %d bytes need more than 10,000 parts of %d", src.Artifact().Name(), src.Size(), partSize)
	}
	cu, err := api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, Metadata: meta})
	if err != nil {
		return fmt.Errorf("aws: s3://%s/%s: CreateMultipartUpload: %w", bucket, key, err)
	}
	abort := func() {
		api.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: cu.UploadId})
	}
	parts := make([]s3types.CompletedPart, n)
	err = src.Chunks(ctx, catalog.ChunkOptions{Size: partSize, Workers: workers}, func(ctx context.Context, off int64, b []byte) error {
		part := awsv2.Int32(int32(off/partSize + 1))
		out, err := api.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &bucket, Key: &key, UploadId: cu.UploadId,
			PartNumber: part, Body: bytes.NewReader(b), ContentLength: awsv2.Int64(int64(len(b))),
		})
		if err != nil {
			return fmt.Errorf("aws: s3://%s/%s: part %d: %w", bucket, key, *part, err)
		}
		parts[off/partSize] = s3types.CompletedPart{ETag: out.ETag, PartNumber: part}
		return nil
	})
	if err != nil {
		abort()
		return err
	}
	if _, err := api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: cu.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		abort()
		return fmt.Errorf("aws: s3://%s/%s: CompleteMultipartUpload: %w", bucket, key, err)
	}
	return nil
}

// ec2ImportTask is the answer of ImportSnapshot.
type ec2ImportTask struct {
	ID string `xml:"importTaskId"`
}

// ec2ImportTasks is a page of DescribeImportSnapshotTasks.
type ec2ImportTasks struct {
	Tasks []struct {
		ID     string `xml:"importTaskId"`
		Detail *struct {
			Status     string `xml:"status"`
			Message    string `xml:"statusMessage"`
			SnapshotID string `xml:"snapshotId"`
		} `xml:"snapshotTaskDetail"`
	} `xml:"importSnapshotTaskSet>item"`
	NextToken string `xml:"nextToken"`
}

// importSnapshot imports the uploaded disk into an EBS snapshot and waits
// for the import task; it returns the snapshot id.
func importSnapshot(ctx context.Context, api EC2API, bucket, key, format, desc, token string, tags map[string]string, every time.Duration) (string, error) {
	p := url.Values{
		"Description":                       {desc},
		"DiskContainer.Format":              {format},
		"DiskContainer.Description":         {desc},
		"DiskContainer.UserBucket.S3Bucket": {bucket},
		"DiskContainer.UserBucket.S3Key":    {key},
	}
	if token != "" {
		p.Set("ClientToken", token)
	}
	ec2TagSpec(p, 1, "import-snapshot-task", tags)
	var out ec2ImportTask
	if err := api.Call(ctx, "ImportSnapshot", p, &out); err != nil {
		return "", fmt.Errorf("aws: ImportSnapshot s3://%s/%s: %w", bucket, key, err)
	}
	id := out.ID
	if id == "" {
		return "", fmt.Errorf("aws: ImportSnapshot s3://%s/%s: %w: no importTaskId", bucket, key, ErrResponse)
	}
	q := url.Values{}
	ec2List(q, "ImportTaskId", id)
	for {
		var status, msg, snap string
		n := 0
		err := ec2Pages(ctx, api, "DescribeImportSnapshotTasks", q, func(d *ec2ImportTasks) string {
			for _, t := range d.Tasks {
				if t.ID == id && t.Detail != nil {
					n++
					status, msg, snap = t.Detail.Status, t.Detail.Message, t.Detail.SnapshotID
				}
			}
			return d.NextToken
		})
		if err != nil {
			return "", fmt.Errorf("aws: DescribeImportSnapshotTasks %s: %w", id, err)
		}
		if n != 1 {
			return "", fmt.Errorf("aws: import task %s: no task in the answer", id)
		}
		switch status {
		case "completed":
			if snap == "" {
				return "", fmt.Errorf("aws: import task %s: %w: completed without a snapshotId", id, ErrResponse)
			}
			return snap, nil
		case "deleted", "deleting", "error":
			return "", fmt.Errorf("%w: import task %s: %s: %s", ErrOperation, id, status, msg)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(every):
		}
	}
}
