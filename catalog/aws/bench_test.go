package aws

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
)

// benchArtifact is the raw disk of a 1 GiB sparse disk whose first MiB of
// every 8 MiB holds random data (128 MiB of data, the rest holes).
func benchArtifact(b *testing.B) artifact.Artifact {
	p, _ := catalogtest.SparseDisk(b, 1<<30, 8<<20)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		b.Fatal(err)
	}
	return artifact.Artifact{Format: vm.FormatRaw, Path: p, Size: n, VirtualSize: n, Digest: digest.NewDigest(digest.SHA256, h)}
}

// BenchmarkRegister registers the raw disk of benchArtifact through the
// EBS direct APIs (to the fake, which checks every block's checksum) and
// deregisters it: the digest of the whole disk is checked and only the
// non-zero blocks are sent.
func BenchmarkRegister(b *testing.B) {
	a := benchArtifact(b)
	fake := newFakeAWS(b)
	e, c := clients(fake, "eu-west-1")
	r, err := NewWithClients("eu-west-1", e, c, WithPollInterval(1), WithWorkers(4))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for i := 0; b.Loop(); i++ {
		loc, err := r.Register(ctx, a, catalogtest.EntryFor(vm.AWS, a, i+1))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Deregister(ctx, loc); err != nil {
			b.Fatal(err)
		}
	}
	stop()
	b.ReportMetric(float64(fake.bytesIn)/float64(b.N)/(1<<20), "MiB-sent/op")
}

// BenchmarkRegisterS3 registers a streamOptimized VMDK of a 1 GiB disk
// with 128 MiB of random data (SparseDisk) through a multipart upload to versitygw (a real S3 server) and the
// fake's ImportSnapshot.
func BenchmarkRegisterS3(b *testing.B) {
	s3c, up := startS3(b)
	fake := newFakeAWS(b)
	fake.s3Object = s3Reader(s3c)
	e, c := clients(fake, "eu-west-1")
	r, err := NewWithClients("eu-west-1", e, c, WithPollInterval(1), WithWorkers(4), WithS3Import(up, "images"))
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := catalogtest.SparseDisk(b, 1<<30, 8<<20)
	a := vmdkOf(b, raw)
	ctx := context.Background()
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for i := 0; b.Loop(); i++ {
		loc, err := r.Register(ctx, a, catalogtest.EntryFor(vm.AWS, a, i+1))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Deregister(ctx, loc); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}
