package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

func artifactFor(t testing.TB, size int64) artifact.Artifact {
	f, _ := testDisk(t, size)
	h := sha256.New()
	io.Copy(h, io.NewSectionReader(f, 0, size))
	return artifact.Artifact{Format: vm.FormatRaw, Path: f.Name(), Size: size, VirtualSize: size, Digest: digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))}
}

func entryFor(a artifact.Artifact) catalog.Entry {
	ref := vm.Ref{Variant: "base", Platform: vm.AWS, Arch: vm.X86_64, Kernel: vm.Stable, Version: vm.Version{Epoch: 1763856000}, Digest: a.Digest}
	return catalog.Entry{Ref: ref}
}

func newTestRegistrar(t *testing.T, fake *fakeAWS, opts ...Option) *Registrar {
	e, c := clients(fake, "eu-west-1")
	opts = append(opts, WithPollInterval(time.Millisecond), WithWorkers(4),
		WithRegionClients(func(region string) EC2API { _, c := clients(fake, region); return c }))
	r, err := NewWithClients("eu-west-1", e, c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegistrarRegisterCopyDeregister(t *testing.T) {
	fake := newFakeAWS(t)
	r := newTestRegistrar(t, fake, WithCopyRegions("us-east-1"), WithShareAccounts("111122223333"))
	a := artifactFor(t, 1<<30)
	e := entryFor(a)
	ctx := context.Background()
	loc, err := r.Register(ctx, a, e)
	if err != nil {
		t.Fatal(err)
	}
	img := fake.images[loc.ID]
	if img == nil || img.region != "eu-west-1" || len(loc.Copies) != 1 || fake.images[loc.Copies[0].ID].region != "us-east-1" {
		t.Fatalf("location %+v", loc)
	}
	if len(img.launch) != 1 || len(fake.images[loc.Copies[0].ID].launch) != 1 {
		t.Error("not shared in every region")
	}
	// Same artifact again: the same AMI, nothing uploaded twice.
	starts := fake.calls["StartSnapshot"]
	again, err := r.Register(ctx, a, e)
	if err != nil || again.ID != loc.ID || fake.calls["StartSnapshot"] != starts {
		t.Fatalf("re-register: %+v %v (snapshots started %d)", again, err, fake.calls["StartSnapshot"])
	}
	if err := r.Deprecate(ctx, loc, catalog.Deprecation{Time: time.Unix(1763856000, 0)}); err != nil {
		t.Fatal(err)
	}
	if img.deprecateAt == "" || fake.images[loc.Copies[0].ID].deprecateAt == "" {
		t.Error("deprecation not applied to every copy")
	}
	if err := r.Deregister(ctx, loc); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(ctx, loc); err != nil {
		t.Fatalf("deregistering twice must succeed: %v", err)
	}
	for _, im := range fake.images {
		if !im.deregistered {
			t.Errorf("image %s left", im.id)
		}
	}
}

func TestRegistrarCleansUpWhenTheLastStepFails(t *testing.T) {
	fake := newFakeAWS(t)
	r := newTestRegistrar(t, fake, WithCopyRegions("us-east-1"))
	fake.fail("CopyImage", errors.New("injected"))
	a := artifactFor(t, 1<<30)
	if _, err := r.Register(context.Background(), a, entryFor(a)); err == nil {
		t.Fatal("want the copy failure")
	}
	if len(fake.snapshots) != 1 {
		t.Fatalf("%d snapshots", len(fake.snapshots))
	}
	for id, s := range fake.snapshots {
		if !s.deleted {
			t.Errorf("orphan snapshot %s", id)
		}
	}
	for _, im := range fake.images {
		if !im.deregistered {
			t.Errorf("orphan image %s", im.id)
		}
	}
}

func TestRegistrarChecksBeforeUpload(t *testing.T) {
	fake := newFakeAWS(t)
	r := newTestRegistrar(t, fake)
	a := artifactFor(t, 1<<30)
	bad := a
	bad.Digest = digest.Digest("sha256:" + hex.EncodeToString(make([]byte, 32)))
	if _, err := r.Register(context.Background(), bad, entryFor(bad)); !errors.Is(err, catalog.ErrDigest) || !errors.Is(err, ErrArtifact) {
		t.Errorf("wrong digest: %v", err)
	}
	vhd := a
	vhd.Format = vm.FormatVHD
	if _, err := r.Register(context.Background(), vhd, entryFor(vhd)); !errors.Is(err, ErrArtifact) {
		t.Errorf("vhd: %v", err)
	}
	odd := artifactFor(t, 1<<30+512)
	if _, err := r.Register(context.Background(), odd, entryFor(odd)); !errors.Is(err, ErrArtifact) {
		t.Errorf("size not whole GiB: %v", err)
	}
	if fake.calls["StartSnapshot"] != 0 {
		t.Errorf("uploaded despite a failed check")
	}
}

func TestNewWithCopyRegions(t *testing.T) {
	r, err := New(awsv2.Config{Region: "eu-west-1"}, WithCopyRegions("us-east-1"))
	if err != nil || r.o.clients == nil {
		t.Fatalf("New with copy regions: %v", err)
	}
	if _, err := New(awsv2.Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no region: %v", err)
	}
}
