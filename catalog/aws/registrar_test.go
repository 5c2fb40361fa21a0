package aws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/vm"
)

func artifactFor(t testing.TB, size int64) artifact.Artifact {
	f, _ := testDisk(t, size)
	d, err := digest.SHA256.FromReader(io.NewSectionReader(f, 0, size))
	if err != nil {
		t.Fatal(err)
	}
	return artifact.Artifact{Format: vm.FormatRaw, Path: f.Name(), Size: size, VirtualSize: size, Digest: d}
}

// The 1 GiB disk of sharedDisk, made once for the package's tests (AMIs
// are whole GiB, and hashing one takes a while): tests only read it.
var shared struct {
	once sync.Once
	dir  string
	a    artifact.Artifact
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedDisk returns the artifact of a 1 GiB testDisk, the same file for
// every test.
func sharedDisk(t testing.TB) artifact.Artifact {
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "hardvm-aws-test-"); shared.err != nil {
			return
		}
		shared.a = artifactFor(&dirTB{TB: t, dir: shared.dir}, 1<<30)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.a
}

// dirTB is t whose TempDir is dir, for files that outlive t.
type dirTB struct {
	testing.TB
	dir string
}

func (d *dirTB) TempDir() string { return d.dir }
func (d *dirTB) Cleanup(func())  {}

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
	a := sharedDisk(t)
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
	a := sharedDisk(t)
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

// An artifact that breaks AWS's rules is refused before any upload.
func TestRegistrarChecksBeforeUpload(t *testing.T) {
	fake := newFakeAWS(t)
	r := newTestRegistrar(t, fake)
	a := sharedDisk(t)
	vhd := a
	vhd.Format = vm.FormatVHD
	// Refused before it is read: its digest does not matter.
	odd := artifact.Artifact{Format: vm.FormatRaw, Path: filepath.Join(t.TempDir(), "odd.raw"), Size: 1<<30 + 512, Digest: a.Digest}
	if err := os.WriteFile(odd.Path, nil, 0o644); err != nil || os.Truncate(odd.Path, odd.Size) != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		a    artifact.Artifact
		rule string
	}{{vhd, catalog.RuleFormat}, {odd, "aws-size"}} {
		_, err := r.Register(context.Background(), tt.a, entryFor(tt.a))
		var ae *catalog.ArtifactError
		if !errors.Is(err, catalog.ErrRejected) || !errors.As(err, &ae) || ae.Rule != tt.rule || ae.Target != "aws" || ae.Path != tt.a.Path {
			t.Errorf("%s: Register = %v, want rule %s", tt.a.Name(), err, tt.rule)
		}
	}
	if fake.calls["StartSnapshot"] != 0 {
		t.Errorf("uploaded despite a failed check")
	}
}

// A disk whose digest is wrong is found out as it uploads: its snapshot
// is never completed, and is deleted.
func TestRegistrarWrongDigestUploadsNothingUsable(t *testing.T) {
	fake := newFakeAWS(t)
	r := newTestRegistrar(t, fake)
	a := sharedDisk(t)
	a.Digest = digest.NewDigestFromBytes(digest.SHA256, make([]byte, 32))
	_, err := r.Register(context.Background(), a, entryFor(a))
	if !errors.Is(err, catalog.ErrDigest) || !errors.Is(err, catalog.ErrRejected) {
		t.Fatalf("wrong digest: %v", err)
	}
	if fake.calls["StartSnapshot"] != 1 || fake.calls["PutSnapshotBlock"] == 0 || fake.calls["CompleteSnapshot"] != 0 || fake.calls["RegisterImage"] != 0 {
		t.Errorf("calls %v: want a snapshot started and written to, never completed nor registered", fake.calls)
	}
	fakeEmpty(t, fake)
}

// fakeEmpty fails t unless every snapshot the fake made is deleted and
// every image deregistered.
func fakeEmpty(t *testing.T, fake *fakeAWS) {
	t.Helper()
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for id, s := range fake.snapshots {
		if !s.deleted {
			t.Errorf("snapshot %s (%s) left", id, s.state)
		}
	}
	for id, img := range fake.images {
		if !img.deregistered {
			t.Errorf("image %s left", id)
		}
	}
}

// TestRegistrarKit runs catalog's conformance kit on the EBS direct path:
// the fake must hold an AMI tagged with the digest whose snapshot holds
// exactly the disk's non-zero blocks.
func TestRegistrarKit(t *testing.T) {
	fake := newFakeAWS(t)
	r := newTestRegistrar(t, fake)
	a := sharedDisk(t)
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Artifact: func(*testing.T) artifact.Artifact { return a },
		Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			img := fake.images[loc.ID]
			if img == nil || img.deregistered || img.tag("hardvm:digest") != a.Digest.String() {
				t.Fatalf("no AMI %s tagged with %s: %+v", loc.ID, a.Digest, img)
			}
			snapshotHolds(t, fake.snapshots[img.snapshot], a.Path)
		},
		Gone: func(t *testing.T, loc catalog.Location) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if img := fake.images[loc.ID]; img == nil || !img.deregistered || !fake.snapshots[img.snapshot].deleted {
				t.Errorf("AMI %s or its snapshot left", loc.ID)
			}
		},
		Empty: func(t *testing.T) { fakeEmpty(t, fake) },
	})
}

// snapshotHolds fails t unless s is completed and holds exactly the
// non-zero blocks of the raw disk at path.
func snapshotHolds(t *testing.T, s *fakeSnapshot, path string) {
	t.Helper()
	if s == nil || s.state != "completed" || s.deleted {
		t.Fatalf("snapshot %+v, want completed", s)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	buf := make([]byte, BlockSize)
	want := 0
	for idx := int32(0); int64(idx)*BlockSize < fi.Size(); idx++ {
		n, _ := f.ReadAt(buf, int64(idx)*BlockSize)
		clear(buf[n:])
		if sparse.IsZero(buf) {
			continue
		}
		want++
		if !bytes.Equal(s.blocks[idx], buf) {
			t.Fatalf("block %d of the snapshot differs from the disk", idx)
		}
	}
	if len(s.blocks) != want {
		t.Errorf("snapshot has %d blocks, the disk %d non-zero ones", len(s.blocks), want)
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

// What AWS does after a call returns can fail too: the fake ends the
// snapshot in the error state (an ErrOperation), as can a call that
// starts the work. Nothing is left behind. (A failing RegisterImage or
// CopyImage is TestS3ImportCleansUpWhenTheLastStepFails's and
// TestRegistrarCleansUpWhenTheLastStepFails's.)
func TestRegistrarAsyncFailures(t *testing.T) {
	a := sharedDisk(t)
	for _, tc := range []struct {
		op      string
		typed   error
		snapped bool // a snapshot was made (and must be deleted)
	}{
		{"SnapshotState", ErrOperation, true},
		{"StartSnapshot", nil, false},
	} {
		t.Run(tc.op, func(t *testing.T) {
			fake := newFakeAWS(t)
			r := newTestRegistrar(t, fake)
			fake.fail(tc.op, errors.New("injected "+tc.op+" failure"))
			_, err := r.Register(context.Background(), a, entryFor(a))
			if err == nil || !strings.Contains(err.Error(), "injected "+tc.op) || tc.typed != nil && !errors.Is(err, tc.typed) {
				t.Fatalf("Register = %v, want the injected failure (%v)", err, tc.typed)
			}
			if got := len(fake.snapshots) > 0; got != tc.snapped {
				t.Errorf("%d snapshots made", len(fake.snapshots))
			}
			fakeEmpty(t, fake)
		})
	}
}
