package aws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// testConfig is the aws.Config of the tests: the fake's endpoint, the
// test credentials, one attempt per call.
func testConfig(f *fakeAWS, region string) awsv2.Config {
	return awsv2.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDHARDVMTEST", "secret", ""),
		RetryMaxAttempts: 1,
		BaseEndpoint:     awsv2.String(f.srv.URL),
	}
}

func clients(f *fakeAWS, region string) (*ebs.Client, *EC2Client) {
	cfg := testConfig(f, region)
	return ebs.NewFromConfig(cfg), NewEC2Client(cfg)
}

// testDisk writes a sparse disk: data at the start, 1 MiB of random data
// at 10 MiB, an explicitly written zero block at 20 MiB, holes elsewhere.
func testDisk(t testing.TB, size int64) (*os.File, map[int64][]byte) {
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := rand.New(rand.NewPCG(1, 1))
	data := map[int64][]byte{0: bytes.Repeat([]byte("hardvm"), 700), 10 << 20: make([]byte, 1<<20)}
	for i := range data[10<<20] {
		data[10<<20][i] = byte(r.Uint32())
	}
	for off, b := range data {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteAt(make([]byte, BlockSize), 20<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f, data
}

// openDisk writes testDisk and opens it as an artifact with its digest.
func openDisk(t testing.TB, size int64) (*catalog.ArtifactFile, map[int64][]byte) {
	f, data := testDisk(t, size)
	d, err := digest.SHA256.FromReader(io.NewSectionReader(f, 0, size))
	if err != nil {
		t.Fatal(err)
	}
	src, err := catalog.OpenArtifact(artifact.Artifact{Format: vm.FormatRaw, Path: f.Name(), Size: size, Digest: d}, "aws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, data
}

func TestUploadSnapshotSendsOnlyData(t *testing.T) {
	fake := newFakeAWS(t)
	ebsc, _ := clients(fake, "eu-west-1")
	f, data := openDisk(t, 64<<20)
	id, st, err := uploadSnapshot(context.Background(), ebsc, f, snapshotSpec{description: "test", tags: map[string]string{"hardvm:ref": "x"}, workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	s := fake.snapshots[id]
	if s == nil {
		t.Fatalf("no snapshot %s", id)
	}
	if !s.completed || s.state != "pending" || s.volumeGiB != 1 || s.tags["hardvm:ref"] != "x" {
		t.Fatalf("snapshot %s: completed %v, state %s, %d GiB, tags %v", id, s.completed, s.state, s.volumeGiB, s.tags)
	}
	// 1 block at 0, 2 blocks at 10 MiB; the zero block at 20 MiB is skipped.
	if st.Blocks != 3 || len(s.blocks) != 3 || fake.bytesIn != 3*BlockSize {
		t.Fatalf("sent %d blocks (%d bytes), fake has %d", st.Blocks, fake.bytesIn, len(s.blocks))
	}
	if st.BytesZero != 64<<20-3*BlockSize {
		t.Errorf("zero bytes %d", st.BytesZero)
	}
	for off, b := range data {
		blk := s.blocks[int32(off/BlockSize)]
		if !bytes.Equal(blk[off%BlockSize:off%BlockSize+int64(min(len(b), BlockSize))], b[:min(len(b), BlockSize)]) {
			t.Errorf("block at %d differs", off)
		}
	}
}

func TestUploadFailureReturnsSnapshotForCleanup(t *testing.T) {
	fake := newFakeAWS(t)
	ebsc, ec2c := clients(fake, "eu-west-1")
	f, _ := openDisk(t, 64<<20)
	fake.fail("PutSnapshotBlock", errors.New("injected"))
	id, _, err := uploadSnapshot(context.Background(), ebsc, f, snapshotSpec{workers: 2})
	if err == nil || id == "" {
		t.Fatalf("want an error and the started snapshot, got %q %v", id, err)
	}
	if err := deleteImage(context.Background(), ec2c, "", id); err != nil {
		t.Fatal(err)
	}
	if !fake.snapshots[id].deleted {
		t.Error("snapshot not deleted")
	}
}

func TestRegisterImageBootSettings(t *testing.T) {
	fake := newFakeAWS(t)
	ebsc, ec2c := clients(fake, "eu-west-1")
	f, _ := openDisk(t, 64<<20)
	ctx := context.Background()
	snap, _, err := uploadSnapshot(ctx, ebsc, f, snapshotSpec{workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitSnapshot(ctx, ec2c, snap, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ami, err := registerImage(ctx, ec2c, imageSpec{name: "hardvm-base", arch: "x86_64", snapshotID: snap, tags: map[string]string{"hardvm:digest": "sha256:00"}})
	if err != nil {
		t.Fatal(err)
	}
	img := fake.images[ami]
	if img.params["TagSpecification.1.ResourceType"] != "image" || img.params["TagSpecification.1.Tag.1.Key"] != "hardvm:digest" {
		t.Errorf("tags not sent: %v", img.params)
	}
	if got, _ := findImage(ctx, ec2c, "hardvm-base"); got != ami {
		t.Errorf("findImage = %q, want %q", got, ami)
	}
	if err := share(ctx, ec2c, ami, []string{"111122223333"}); err != nil || len(img.launch) != 1 {
		t.Errorf("share: %v %v", err, img.launch)
	}
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := deprecate(ctx, ec2c, ami, at); err != nil || img.deprecateAt != "2027-01-01T00:00:00Z" {
		t.Errorf("deprecate: %v %q", err, img.deprecateAt)
	}
	if err := deleteImage(ctx, ec2c, ami, snap); err != nil {
		t.Fatal(err)
	}
	if !img.deregistered || !fake.snapshots[snap].deleted {
		t.Error("cleanup left the image or snapshot")
	}
}
