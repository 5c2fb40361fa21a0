package gcp

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
	"google.golang.org/api/iterator"
)

// gceArtifact writes a real GCE artifact (the vdisk GCE writer) of a 1 GiB
// sparse disk with a little data.
func gceArtifact(t *testing.T) artifact.Artifact {
	raw := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(t.Name()), 1<<20)
	f.Truncate(1 << 30)
	f.Close()
	return gceOf(t, raw)
}

// gceOf writes the GCE artifact of the raw disk at raw.
func gceOf(t testing.TB, raw string) artifact.Artifact {
	src, err := vdisk.OpenFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w, _ := vdisk.ForFormat(vm.FormatGCE, false)
	out := filepath.Join(t.TempDir(), "disk.tar.gz")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDisk(context.Background(), o, src); err != nil {
		t.Fatal(err)
	}
	o.Close()
	b, _ := os.Open(out)
	defer b.Close()
	h := sha256.New()
	n, _ := io.Copy(h, b)
	return artifact.Artifact{Format: vm.FormatGCE, Path: out, Size: n, VirtualSize: src.Size(), Digest: digest.NewDigest(digest.SHA256, h)}
}

func TestRegistrarConformance(t *testing.T) {
	ctx := context.Background()
	gcs, gcsURL := startFakeGCS(t)
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	fake := newFakeCompute(t, func(b, o string) bool {
		_, err := gcs.Bucket(b).Object(o).Attrs(ctx)
		return err == nil
	})
	r := newTestRegistrar(t, "images", gcsURL, fake.srv.URL, WithShareMembers("group:ops@example.com"))
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Artifact: gceArtifact,
		// The registrar reads the first tar header: change a byte of the
		// deflate stream near its end instead (not of the gzip trailer).
		Tamper: func(t *testing.T, a artifact.Artifact) artifact.Artifact {
			return catalogtest.TamperAt(t, a, a.Size-16)
		},
		Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			img := fake.images[loc.ID]
			if img == nil || img.Labels["hardvm-digest"] == "" || img.Family == "" {
				t.Fatalf("no image %s with labels in the compute fake: %+v", loc.ID, img)
			}
			if _, err := gcs.Bucket("images").Object(loc.ID + ".tar.gz").Attrs(ctx); err == nil {
				t.Errorf("uploaded object left in the bucket after the image was created")
			}
		},
		Gone: func(t *testing.T, loc catalog.Location) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.images[loc.ID] != nil {
				t.Fatalf("image %s still exists", loc.ID)
			}
		},
		Empty: func(t *testing.T) {
			fake.mu.Lock()
			for name := range fake.images {
				t.Errorf("image %s left", name)
			}
			fake.mu.Unlock()
			it := gcs.Bucket("images").Objects(ctx, nil)
			for {
				o, err := it.Next()
				if errors.Is(err, iterator.Done) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Errorf("object %s left in the bucket", o.Name)
			}
		},
	})
}

func TestRegistrarCleansUpWhenImageCreationFails(t *testing.T) {
	ctx := context.Background()
	gcs, gcsURL := startFakeGCS(t)
	gcs.Bucket("images").Create(ctx, "p", nil)
	fake := newFakeCompute(t, func(string, string) bool { return true })
	fake.failOn["POST images/setIamPolicy"] = "injected"
	r := newTestRegistrar(t, "images", gcsURL, fake.srv.URL, WithShareMembers("group:x@example.com"))
	a := gceArtifact(t)
	ref := vm.Ref{Variant: "base", Platform: vm.GCP, Arch: vm.X86_64, Kernel: vm.Stable, Version: vm.Version{Epoch: 1763856000}, Digest: a.Digest}
	if _, err := r.Register(ctx, a, catalog.Entry{Ref: ref}); err == nil {
		t.Fatal("want the share failure")
	}
	if len(fake.images) != 0 {
		t.Errorf("image left behind: %v", fake.images)
	}
	if _, err := gcs.Bucket("images").Object(imageName(ref) + ".tar.gz").Attrs(ctx); err == nil {
		t.Error("object left behind")
	}
}

// Artifacts that break GCE's rules are refused before anything is
// uploaded or created.
func TestRegistrarChecksBeforeUpload(t *testing.T) {
	ctx := context.Background()
	fake := newFakeCompute(t, func(string, string) bool { return true })
	gcs, gcsURL := startFakeGCS(t)
	if err := gcs.Bucket("refused").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	r := newTestRegistrar(t, "refused", gcsURL, fake.srv.URL)
	good := gceArtifact(t)
	raw := good
	raw.Format = vm.FormatRaw
	notGzip := artifactAt(t, "disk.tar.gz", []byte("not gzip at all"))
	var tb bytes.Buffer
	zw := gzip.NewWriter(&tb)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "root.img", Mode: 0o644, Size: 4})
	tw.Write([]byte("disk"))
	tw.Close()
	zw.Close()
	otherName := artifactAt(t, "disk.tar.gz", tb.Bytes())
	for _, tt := range []struct {
		a    artifact.Artifact
		rule string
	}{{raw, catalog.RuleFormat}, {notGzip, "gcp-disk-raw"}, {otherName, "gcp-disk-raw"}} {
		_, err := r.Register(ctx, tt.a, catalogtest.EntryFor(vm.GCP, tt.a, 1))
		var ae *catalog.ArtifactError
		if !errors.Is(err, catalog.ErrRejected) || !errors.As(err, &ae) || ae.Rule != tt.rule || ae.Target != "gcp" {
			t.Errorf("%s: Register = %v, want rule %s", tt.a.Path, err, tt.rule)
		}
	}
	if n := len(fake.images); n != 0 {
		t.Errorf("%d images for refused artifacts", n)
	}
	if o, err := gcs.Bucket("refused").Objects(ctx, nil).Next(); !errors.Is(err, iterator.Done) {
		t.Errorf("object %v (%v) uploaded for a refused artifact", o, err)
	}
}

// artifactAt writes b as a file named name and returns it as a GCE
// artifact with its digest.
func artifactAt(t *testing.T, name string, b []byte) artifact.Artifact {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return artifact.Artifact{Format: vm.FormatGCE, Path: p, Size: int64(len(b)), VirtualSize: 1 << 30, Digest: digest.FromBytes(b)}
}

// Each long-running operation the registrar starts can fail (the fake
// ends it DONE with an error, as Compute Engine does): the error is an
// ErrOperation, and a failed insert leaves neither the image (which the
// fake leaves FAILED, as a real insert may) nor the object behind.
func TestRegistrarOperationFailures(t *testing.T) {
	ctx := context.Background()
	gcs, gcsURL := startFakeGCS(t)
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	fake := newFakeCompute(t, func(b, o string) bool {
		_, err := gcs.Bucket(b).Object(o).Attrs(ctx)
		return err == nil
	})
	r := newTestRegistrar(t, "images", gcsURL, fake.srv.URL)
	a := gceArtifact(t)
	e := catalogtest.EntryFor(vm.GCP, a, 1)
	objects := func() int {
		n := 0
		for it := gcs.Bucket("images").Objects(ctx, nil); ; n++ {
			if _, err := it.Next(); err != nil {
				return n
			}
		}
	}

	fake.failOp["insert"] = "injected: the disk could not be read"
	_, err := r.Register(ctx, a, e)
	if !errors.Is(err, ErrOperation) || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Register with the insert failing: %v, want ErrOperation", err)
	}
	if len(fake.images) != 0 || objects() != 0 {
		t.Fatalf("after a failed insert: images %v, %d objects", fake.images, objects())
	}
	delete(fake.failOp, "insert")
	loc, err := r.Register(ctx, a, e)
	if err != nil {
		t.Fatal(err)
	}
	if st := fake.images[loc.ID].Status; st != "READY" {
		t.Fatalf("image %s is %s", loc.ID, st)
	}

	fake.failOp["deprecate"] = "injected deprecation failure"
	if err := r.Deprecate(ctx, loc, catalog.Deprecation{Time: time.Unix(1763856000, 0)}); !errors.Is(err, ErrOperation) {
		t.Fatalf("Deprecate with the operation failing: %v, want ErrOperation", err)
	}
	if fake.images[loc.ID].Deprecated != nil {
		t.Error("a failed deprecation was recorded")
	}

	fake.failOp["delete"] = "injected delete failure"
	if err := r.Deregister(ctx, loc); !errors.Is(err, ErrOperation) {
		t.Fatalf("Deregister with the operation failing: %v, want ErrOperation", err)
	}
	delete(fake.failOp, "delete")
	if err := r.Deregister(ctx, loc); err != nil {
		t.Fatal(err)
	}
	// Every operation was polled until DONE: the fake finishes them on
	// the second poll only.
	if len(fake.ops) == 0 {
		t.Fatal("no operation started")
	}
	for name, op := range fake.ops {
		if n := fake.polls[name]; n < 2 {
			t.Errorf("operation %s (%s) polled %d times", name, op.OperationType, n)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, tt := range map[string]struct {
		hc   *http.Client
		opts []Option
	}{
		"no client":        {nil, nil},
		"storage endpoint": {http.DefaultClient, []Option{WithEndpoints("ftp://example.com", "")}},
		"compute endpoint": {http.DefaultClient, []Option{WithEndpoints("", "compute.googleapis.com")}},
		"chunk size":       {http.DefaultClient, []Option{WithChunkSize(256<<10 + 1)}},
		"empty db cert":    {http.DefaultClient, []Option{WithSecureBootDB(nil)}},
	} {
		if _, err := New("p", "images", tt.hc, tt.opts...); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", name, err)
		}
	}
	if _, err := New("", "images", http.DefaultClient); !errors.Is(err, ErrConfig) {
		t.Errorf("no project: New = %v, want ErrConfig", err)
	}
}
