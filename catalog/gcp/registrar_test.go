package gcp

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
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

// Artifacts that break GCE's rules are refused before anything is
// uploaded or created.
func TestRegistrarChecksBeforeUpload(t *testing.T) {
	ctx := context.Background()
	fake := newFakeCompute(t, func(string, string) bool { return true })
	gcs, _ := startFakeGCS(t)
	r, err := New("p", "b", gcs, computeFor(t, fake.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
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
