package aws

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

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
	upload, err := api.CreateMultipartUpload(ctx, bucket, key, meta)
	if err != nil {
		return fmt.Errorf("aws: s3://%s/%s: CreateMultipartUpload: %w", bucket, key, err)
	}
	abort := func() {
		api.AbortMultipartUpload(context.WithoutCancel(ctx), bucket, key, upload)
	}
	etags := make([]string, n)
	err = src.Chunks(ctx, catalog.ChunkOptions{Size: partSize, Workers: workers}, func(ctx context.Context, off int64, b []byte) error {
		part := int32(off/partSize + 1)
		etag, err := api.UploadPart(ctx, bucket, key, upload, part, b)
		if err != nil {
			return fmt.Errorf("aws: s3://%s/%s: part %d: %w", bucket, key, part, err)
		}
		etags[off/partSize] = etag
		return nil
	})
	if err != nil {
		abort()
		return err
	}
	if err := api.CompleteMultipartUpload(ctx, bucket, key, upload, etags); err != nil {
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
