package aws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Client's multipart upload, abort and delete against versitygw, which
// checks the SigV4 signature and the payload hash of every request; the
// object is read back with the SDK's S3 client.
func TestS3ClientAgainstVersitygw(t *testing.T) {
	sdk, c := startS3(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(2, 2))
	data := make([]byte, 6<<20)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	// A key with bytes that need encoding, signed as S3 wants it.
	key := "hardvm/a b+c=d:é~(1).vmdk"
	meta := map[string]string{"hardvm-ref": "base/aws/x86_64/stable:1", "hardvm-digest": "sha256:00"}
	id, err := c.CreateMultipartUpload(ctx, "images", key, meta)
	if err != nil {
		t.Fatal(err)
	}
	var etags []string
	for i, part := range [][]byte{data[:5<<20], data[5<<20:]} { // S3's minimum part is 5 MiB, but the last
		etag, err := c.UploadPart(ctx, "images", key, id, int32(i+1), part)
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		etags = append(etags, etag)
	}
	if err := c.CompleteMultipartUpload(ctx, "images", key, id, etags); err != nil {
		t.Fatal(err)
	}
	out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: awsv2.String("images"), Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, data) || out.Metadata["hardvm-ref"] != meta["hardvm-ref"] || out.Metadata["hardvm-digest"] != meta["hardvm-digest"] {
		t.Fatalf("object: %d bytes (equal %v), metadata %v", len(got), bytes.Equal(got, data), out.Metadata)
	}
	if err := c.DeleteObject(ctx, "images", key); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteObject(ctx, "images", key); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}

	// An aborted upload leaves nothing; completing it then is NoSuchUpload.
	id, err = c.CreateMultipartUpload(ctx, "images", "hardvm/aborted", nil)
	if err != nil {
		t.Fatal(err)
	}
	etag, err := c.UploadPart(ctx, "images", "hardvm/aborted", id, 1, data[:1<<20])
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AbortMultipartUpload(ctx, "images", "hardvm/aborted", id); err != nil {
		t.Fatal(err)
	}
	if n := objects(t, sdk); n != 0 {
		t.Errorf("%d objects or uploads left", n)
	}
	err = c.CompleteMultipartUpload(ctx, "images", "hardvm/aborted", id, []string{etag})
	var ae *APIError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &ae) || ae.Service != "S3" || ae.Code != "NoSuchUpload" {
		t.Fatalf("completing an aborted upload: %v", err)
	}
}

// versitygw refuses a request signed with another secret, and a part
// whose bytes changed after they were signed: the payload hash is signed.
func TestS3ClientRefused(t *testing.T) {
	sdk, c := startS3(t)
	ctx := context.Background()
	wrong := NewS3Client(s3Config(c.base.String(), "another-secret"))
	if _, err := wrong.CreateMultipartUpload(ctx, "images", "hardvm/x", nil); !errors.Is(err, ErrDenied) {
		t.Fatalf("wrong secret: %v, want ErrDenied", err)
	}
	cfg := s3Config(c.base.String(), "hardvmtestsecret")
	cfg.HTTPClient = flipClient{}
	tampered := NewS3Client(cfg)
	id, err := c.CreateMultipartUpload(ctx, "images", "hardvm/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tampered.UploadPart(ctx, "images", "hardvm/x", id, 1, bytes.Repeat([]byte("hardvm"), 1000))
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode/100 != 4 {
		t.Fatalf("a part changed after signing: %v, want S3's refusal", err)
	}
	if err := c.AbortMultipartUpload(ctx, "images", "hardvm/x", id); err != nil {
		t.Fatal(err)
	}
	if n := objects(t, sdk); n != 0 {
		t.Errorf("%d objects or uploads left", n)
	}
}

// flipClient flips the first byte of a request body after it was signed.
type flipClient struct{}

func (flipClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.ContentLength > 0 {
		b, _ := io.ReadAll(r.Body)
		b[0] ^= 1
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return http.DefaultClient.Do(r)
}

// Buckets are addressed virtual-hosted style where the name and endpoint
// allow it, path style otherwise, keys encoded once per segment; names S3
// does not take are refused before anything is sent.
func TestS3ObjectURL(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	for _, tc := range []struct {
		endpoint, bucket, key, want string
	}{
		{"", "images", "hardvm/a b.vmdk", "https://images.s3.eu-west-1.amazonaws.com/hardvm/a%20b.vmdk"},
		{"", "my.images", "k", "https://s3.eu-west-1.amazonaws.com/my.images/k"},
		{"http://127.0.0.1:7070", "images", "a+b/c", "http://127.0.0.1:7070/images/a%2Bb/c"},
		{"https://minio.example:9000/base", "images", "k", "https://images.minio.example:9000/base/k"},
	} {
		cfg := s3Config(tc.endpoint, "x")
		cfg.Region = "eu-west-1"
		if tc.endpoint == "" {
			cfg.BaseEndpoint = nil
		}
		c := NewS3Client(cfg)
		u, err := c.objectURL(tc.bucket, tc.key, "")
		if err != nil || u.String() != tc.want {
			t.Errorf("%s %s/%s: %v %v, want %s", tc.endpoint, tc.bucket, tc.key, u, err, tc.want)
		}
	}
	c := NewS3Client(s3Config("http://127.0.0.1:7070", "x"))
	for _, b := range []string{"Images", "ab", "a..b", "arn:aws:s3:eu-west-1:111122223333:accesspoint/x", "dir--usw2-az1--x-s3", strings.Repeat("a", 64)} {
		if err := c.DeleteObject(context.Background(), b, "k"); !errors.Is(err, ErrConfig) {
			t.Errorf("bucket %q: %v, want ErrConfig", b, err)
		}
	}
	if got := s3Host("cn-north-1", false, true); got != "s3.dualstack.cn-north-1.amazonaws.com.cn" {
		t.Errorf("s3Host = %s", got)
	}
}
