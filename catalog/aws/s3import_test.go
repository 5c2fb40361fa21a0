package aws

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// startS3 starts versitygw, a real S3 server (posix backend, which checks
// SigV4 signatures and payload hashes), on 127.0.0.1 with the bucket
// "images" created, and returns the SDK's S3 client of it, which the tests
// check with (an independent reader of what S3Client wrote), and the
// S3Client the registrar uploads with.
func startS3(t testing.TB) (*s3.Client, *S3Client) {
	bin := testtool.Require(t, "versitygw")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	cmd := exec.Command(bin, "--access", "hardvmtest", "--secret", "hardvmtestsecret", "--port", addr, "posix", root)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cfg := s3Config("http://"+addr, "hardvmtestsecret")
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: awsv2.String("images")}); err != nil {
		t.Fatal(err)
	}
	return c, NewS3Client(cfg)
}

// s3Config is the aws.Config of versitygw at endpoint, with the secret.
func s3Config(endpoint, secret string) awsv2.Config {
	return awsv2.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("hardvmtest", secret, ""),
		BaseEndpoint: awsv2.String(endpoint), RetryMaxAttempts: 1,
	}
}

// vmdkArtifact writes a streamOptimized VMDK of a 1 GiB sparse disk.
func vmdkArtifact(t testing.TB) artifact.Artifact {
	f, _ := testDisk(t, 1<<30)
	return vmdkOf(t, f.Name())
}

// vmdkOf writes a streamOptimized VMDK of the raw disk at raw.
func vmdkOf(t testing.TB, raw string) artifact.Artifact {
	src, err := vdisk.OpenFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), "disk.vmdk")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if err := (vdisk.VMDK{}).StreamDisk(context.Background(), io.MultiWriter(o, h), src); err != nil {
		t.Fatal(err)
	}
	fi, _ := o.Stat()
	o.Close()
	return artifact.Artifact{Format: vm.FormatVMDK, Path: out, Size: fi.Size(), VirtualSize: src.Size(), Digest: digest.NewDigest(digest.SHA256, h)}
}

func s3Reader(c *s3.Client) func(bucket, key string) ([]byte, error) {
	return func(bucket, key string) ([]byte, error) {
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
}

func objects(t *testing.T, c *s3.Client) int {
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: awsv2.String("images")})
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: awsv2.String("images")})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Contents) + len(up.Uploads)
}

func TestS3ImportRegistersVMDK(t *testing.T) {
	s3c, up := startS3(t)
	fake := newFakeAWS(t)
	fake.s3Object = s3Reader(s3c)
	r := newTestRegistrar(t, fake, WithS3Import(up, "images"))
	if !r.Accepts(vm.FormatVMDK) || r.Accepts(vm.FormatQCOW2) {
		t.Fatal("S3 import accepts vmdk, vhd and raw only")
	}
	a := vmdkArtifact(t)
	loc, err := r.Register(context.Background(), a, entryFor(a))
	if err != nil {
		t.Fatal(err)
	}
	img := fake.images[loc.ID]
	if img == nil || fake.snapshots[img.snapshot] == nil || fake.snapshots[img.snapshot].volumeGiB != 1 {
		t.Fatalf("no AMI from the imported snapshot: %+v", img)
	}
	if fake.calls["ImportSnapshot"] != 1 || fake.calls["StartSnapshot"] != 0 {
		t.Errorf("calls %v: want ImportSnapshot, not EBS direct", fake.calls)
	}
	if n := objects(t, s3c); n != 0 {
		t.Errorf("%d objects or uploads left in the bucket", n)
	}
}

func TestS3ImportCleansUpWhenTheLastStepFails(t *testing.T) {
	s3c, up := startS3(t)
	fake := newFakeAWS(t)
	fake.s3Object = s3Reader(s3c)
	fake.fail("RegisterImage", errors.New("injected"))
	r := newTestRegistrar(t, fake, WithS3Import(up, "images"))
	a := vmdkArtifact(t)
	if _, err := r.Register(context.Background(), a, entryFor(a)); err == nil {
		t.Fatal("want the RegisterImage failure")
	}
	for id, s := range fake.snapshots {
		if !s.deleted {
			t.Errorf("orphan snapshot %s", id)
		}
	}
	if n := objects(t, s3c); n != 0 {
		t.Errorf("%d objects or uploads left in the bucket", n)
	}
	// A failed import leaves no object nor multipart upload either.
	fake2 := newFakeAWS(t)
	fake2.s3Object = func(string, string) ([]byte, error) { return nil, errors.New("injected read failure") }
	r2 := newTestRegistrar(t, fake2, WithS3Import(up, "images"))
	if _, err := r2.Register(context.Background(), a, entryFor(a)); err == nil {
		t.Fatal("want the import failure")
	}
	if n := objects(t, s3c); n != 0 {
		t.Errorf("%d objects or uploads left after a failed import", n)
	}
}

// TestS3ImportKit runs catalog's conformance kit on the S3 import path:
// the AMI's snapshot is imported from an object that held exactly the
// artifact, and nothing is left in the bucket, not even a multipart
// upload, whether the registration succeeded or was refused.
func TestS3ImportKit(t *testing.T) {
	s3c, up := startS3(t)
	fake := newFakeAWS(t)
	fake.s3Object = s3Reader(s3c)
	r := newTestRegistrar(t, fake, WithS3Import(up, "images"))
	a := vmdkArtifact(t)
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Artifact: func(*testing.T) artifact.Artifact { return a },
		Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			img := fake.images[loc.ID]
			if img == nil || img.tag("hardvm:digest") != a.Digest.String() {
				t.Fatalf("no AMI %s tagged with %s", loc.ID, a.Digest)
			}
			if s := fake.snapshots[img.snapshot]; s == nil || s.imported != a.Digest {
				t.Errorf("snapshot %s was not imported from the artifact: %+v", img.snapshot, s)
			}
		},
		Gone: func(t *testing.T, loc catalog.Location) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if img := fake.images[loc.ID]; img == nil || !img.deregistered || !fake.snapshots[img.snapshot].deleted {
				t.Errorf("AMI %s or its snapshot left", loc.ID)
			}
		},
		Empty: func(t *testing.T) {
			fakeEmpty(t, fake)
			if n := objects(t, s3c); n != 0 {
				t.Errorf("%d objects or multipart uploads left in the bucket", n)
			}
		},
	})
}

// An import task that fails (the fake ends it "deleted", as EC2 does)
// is an ErrOperation; the object is deleted and no snapshot made. A disk
// VM Import would refuse (a VMDK that is not streamOptimized) is refused
// by the fake, which reads the object with qemu-img.
func TestS3ImportTaskFails(t *testing.T) {
	s3c, up := startS3(t)
	fake := newFakeAWS(t)
	fake.s3Object = s3Reader(s3c)
	fake.fail("ImportSnapshotTask", errors.New("injected: the disk has no bootable partition"))
	r := newTestRegistrar(t, fake, WithS3Import(up, "images"))
	a := vmdkArtifact(t)
	_, err := r.Register(context.Background(), a, entryFor(a))
	if !errors.Is(err, ErrOperation) || !strings.Contains(err.Error(), "no bootable partition") {
		t.Fatalf("Register = %v, want ErrOperation with the task's message", err)
	}
	if n := objects(t, s3c); n != 0 || len(fake.snapshots) != 0 {
		t.Errorf("%d objects, %d snapshots left", n, len(fake.snapshots))
	}

	// A monolithicSparse VMDK (qemu-img's default) is not what VM Import
	// takes.
	qemu := testtool.Require(t, "qemu-img")
	f, _ := testDisk(t, 1<<30)
	sparseVMDK := filepath.Join(t.TempDir(), "disk.vmdk")
	testtool.Run(t, qemu, "convert", "-q", "-f", "raw", "-O", "vmdk", f.Name(), sparseVMDK)
	b, err := os.ReadFile(sparseVMDK)
	if err != nil {
		t.Fatal(err)
	}
	bad := artifact.Artifact{Format: vm.FormatVMDK, Path: sparseVMDK, Size: int64(len(b)), VirtualSize: 1 << 30, Digest: digest.FromBytes(b)}
	fake2 := newFakeAWS(t)
	fake2.s3Object = s3Reader(s3c)
	r2 := newTestRegistrar(t, fake2, WithS3Import(up, "images"))
	if _, err := r2.Register(context.Background(), bad, entryFor(bad)); err == nil || !strings.Contains(err.Error(), "not streamOptimized") {
		t.Fatalf("Register of a monolithicSparse VMDK = %v, want the fake's refusal", err)
	}
	if n := objects(t, s3c); n != 0 {
		t.Errorf("%d objects left", n)
	}
}
