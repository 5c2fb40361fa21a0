package gcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
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
	return artifact.Artifact{Format: vm.FormatGCE, Path: out, Size: n, VirtualSize: src.Size(), Digest: digest.Digest("sha256:" + hex.EncodeToString(h.Sum(nil)))}
}

func TestRegistrarConformance(t *testing.T) {
	ctx := context.Background()
	gcs, _ := startFakeGCS(t)
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	fake := newFakeCompute(t, func(b, o string) bool {
		_, err := gcs.Bucket(b).Object(o).Attrs(ctx)
		return err == nil
	})
	r, err := New("p", "images", gcs, computeFor(t, fake.srv.URL), WithPollInterval(time.Millisecond), WithShareMembers("group:ops@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Artifact: gceArtifact,
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
	})
}

func TestRegistrarCleansUpWhenImageCreationFails(t *testing.T) {
	ctx := context.Background()
	gcs, _ := startFakeGCS(t)
	gcs.Bucket("images").Create(ctx, "p", nil)
	fake := newFakeCompute(t, func(string, string) bool { return true })
	fake.failOn["POST images/setIamPolicy"] = "injected"
	r, _ := New("p", "images", gcs, computeFor(t, fake.srv.URL), WithPollInterval(time.Millisecond), WithShareMembers("group:x@example.com"))
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

func TestRegistrarChecksBeforeUpload(t *testing.T) {
	fake := newFakeCompute(t, func(string, string) bool { return true })
	r, _ := New("p", "b", nil, computeFor(t, fake.srv.URL))
	_ = r
	a := gceArtifact(t)
	a.Format = vm.FormatRaw
	if err := check(a); err == nil {
		t.Error("raw accepted")
	}
}
