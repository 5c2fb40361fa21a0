package nutanix

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

func newTestRegistrar(t *testing.T, opts ...Option) (*Registrar, *fakePrism) {
	t.Helper()
	fake := newFakePrism(t)
	r, err := New(Config{Endpoint: fake.srv.URL, Username: fakeUser, Password: fakePassword},
		append([]Option{WithPollInterval(time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r.c.backoff = time.Millisecond
	return r, fake
}

func artifactOf(t testing.TB, p string, f vm.DiskFormat) artifact.Artifact {
	t.Helper()
	file, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	h := sha256.New()
	n, _ := io.Copy(h, file)
	return artifact.Artifact{Format: f, Path: p, Size: n, Digest: digest.NewDigest(digest.SHA256, h)}
}

// qcow2Artifact converts a sparse raw disk to qcow2 with qemu-img and
// returns both.
func qcow2Artifact(t testing.TB, size int64) (artifact.Artifact, string) {
	t.Helper()
	qemu := testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	f, _ := os.Create(raw)
	f.WriteAt([]byte(strings.Repeat("hardvm nutanix ", 1000)), 0)
	f.WriteAt([]byte("end of disk"), size-4096)
	f.Truncate(size)
	f.Close()
	q := filepath.Join(dir, "disk.qcow2")
	testtool.Run(t, qemu, "convert", "-q", "-f", "raw", "-O", "qcow2", raw, q)
	return artifactOf(t, q, vm.FormatQCOW2), raw
}

func TestRegisterUploadsImage(t *testing.T) {
	qemu := testtool.Require(t, "qemu-img")
	var mu sync.Mutex
	var last int64
	r, fake := newTestRegistrar(t, WithProgress(progress.Func(func(_ string, d, _ int64) { mu.Lock(); last = d; mu.Unlock() })))
	a, raw := qcow2Artifact(t, 64<<20)
	e := catalogtest.EntryFor(vm.Nutanix, a, 1)
	ctx := context.Background()
	loc, err := r.Register(ctx, a, e)
	if err != nil {
		t.Fatal(err)
	}
	img := fake.images[loc.ID]
	if img == nil || img.state != "COMPLETE" || img.size != a.Size || img.name != ImageName(e.Ref) {
		t.Fatalf("image %s: %+v", loc.ID, img)
	}
	if !strings.Contains(img.description, e.Ref.String()) || !strings.Contains(img.description, a.Digest.String()) {
		t.Errorf("description %q", img.description)
	}
	if last != a.Size {
		t.Errorf("progress ended at %d of %d", last, a.Size)
	}
	// What arrived is the qcow2, holding the raw disk (qemu-img says).
	testtool.Run(t, qemu, "compare", "-f", "qcow2", "-F", "raw", img.file, raw)
	// The qcow2 stores no holes: a 64 MiB disk sends a fraction of it.
	if fake.bytesIn != a.Size || a.Size > 1<<20 {
		t.Errorf("sent %d bytes for a qcow2 of %d", fake.bytesIn, a.Size)
	}
	again, err := r.Register(ctx, a, e)
	if err != nil || again.ID != loc.ID || fake.calls["create"] != 1 {
		t.Errorf("second Register: %+v %v (creates: %d)", again, err, fake.calls["create"])
	}
	if err := r.Deregister(ctx, loc); err != nil {
		t.Fatal(err)
	}
	if len(fake.images) != 0 {
		t.Errorf("images left: %d", len(fake.images))
	}
	if err := r.Deregister(ctx, loc); err != nil {
		t.Errorf("second Deregister: %v", err)
	}
}

func TestRegisterRetriesTransientErrors(t *testing.T) {
	r, fake := newTestRegistrar(t)
	a, _ := qcow2Artifact(t, 8<<20)
	fake.fail("upload", 503, 2)
	fake.fail("create", 429, 1)
	loc, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Nutanix, a, 1))
	if err != nil {
		t.Fatal(err)
	}
	if fake.calls["upload"] != 3 || fake.calls["create"] != 2 || fake.images[loc.ID].state != "COMPLETE" {
		t.Errorf("calls %v", fake.calls)
	}
}

// TestRegisterFailureCleansUp fails the last step (the upload, with an
// error that is not retryable) and checks that the image is deleted.
func TestRegisterFailureCleansUp(t *testing.T) {
	r, fake := newTestRegistrar(t)
	a, _ := qcow2Artifact(t, 8<<20)
	fake.fail("upload", 500, 0)
	_, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Nutanix, a, 1))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Register = %v, want the injected 500", err)
	}
	if fake.calls["upload"] != 1 || fake.calls["delete"] != 1 || len(fake.images) != 0 {
		t.Errorf("calls %v, %d images left", fake.calls, len(fake.images))
	}
}

func TestRegisterRefusesBeforeUpload(t *testing.T) {
	qemu := testtool.Require(t, "qemu-img")
	r, fake := newTestRegistrar(t)
	good, raw := qcow2Artifact(t, 8<<20)
	dir := t.TempDir()
	backed := filepath.Join(dir, "backed.qcow2")
	testtool.Run(t, qemu, "create", "-q", "-f", "qcow2", "-b", good.Path, "-F", "qcow2", backed)
	odd := filepath.Join(dir, "odd.raw")
	os.WriteFile(odd, make([]byte, 1<<20+512), 0o644)
	tests := []struct {
		name string
		a    artifact.Artifact
		rule string
	}{
		{"backing file", artifact.Artifact{Format: vm.FormatQCOW2, Path: backed, Digest: good.Digest}, "nutanix-image"},
		{"raw as qcow2", artifact.Artifact{Format: vm.FormatQCOW2, Path: raw, Digest: good.Digest}, "nutanix-image"},
		{"size not whole MiB", artifact.Artifact{Format: vm.FormatRaw, Path: odd, Digest: good.Digest}, "nutanix-image"},
		{"vhd", artifact.Artifact{Format: vm.FormatVHD, Path: good.Path, Digest: good.Digest}, catalog.RuleFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Register(context.Background(), tt.a, catalogtest.EntryFor(vm.Nutanix, good, 1))
			var ae *catalog.ArtifactError
			if !errors.Is(err, catalog.ErrRejected) || !errors.As(err, &ae) || ae.Rule != tt.rule || ae.Target != "nutanix" {
				t.Fatalf("Register = %v, want rule %s", err, tt.rule)
			}
		})
	}
	if len(fake.images) != 0 || fake.calls["create"] != 0 {
		t.Errorf("%d images left, %d created", len(fake.images), fake.calls["create"])
	}

	// A wrong digest is found before anything is sent: no request at all
	// reaches Prism (not even the lookup), so no image is created and no
	// byte uploaded.
	bad := good
	bad.Digest = catalogtest.Digest("x")
	_, err := r.Register(context.Background(), bad, catalogtest.EntryFor(vm.Nutanix, bad, 2))
	var de *catalog.DigestError
	if !errors.Is(err, catalog.ErrDigest) || !errors.Is(err, catalog.ErrRejected) || !errors.As(err, &de) || de.Want != bad.Digest || de.Got != good.Digest {
		t.Fatalf("wrong digest: %v", err)
	}
	if len(fake.calls) != 0 || fake.bytesIn != 0 || len(fake.images) != 0 {
		t.Errorf("a wrong digest reached Prism: calls %v, %d bytes in, %d images", fake.calls, fake.bytesIn, len(fake.images))
	}
}

// A file that changes after the digest check (here: once the image is
// created) is caught as it streams: the upload is cut before its end (the
// fake, which checks the checksum too, never sees it whole), not retried,
// and the image deleted.
func TestRegisterFileChangedDuringUpload(t *testing.T) {
	r, fake := newTestRegistrar(t)
	a, _ := qcow2Artifact(t, 8<<20)
	fake.onCreate = func() {
		f, err := os.OpenFile(a.Path, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		f.WriteAt([]byte("changed"), a.Size-7)
		f.Close()
	}
	_, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Nutanix, a, 1))
	if !errors.Is(err, catalog.ErrDigest) || !errors.Is(err, catalog.ErrRejected) {
		t.Fatalf("file changed after the check: %v", err)
	}
	if fake.calls["create"] != 1 || fake.calls["upload"] != 1 || fake.calls["delete"] != 1 || len(fake.images) != 0 || fake.bytesIn >= a.Size {
		t.Errorf("calls %v, %d of %d bytes in, %d images left", fake.calls, fake.bytesIn, a.Size, len(fake.images))
	}
}

func TestRegistrarKit(t *testing.T) {
	r, fake := newTestRegistrar(t)
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			img := fake.images[loc.ID]
			if img == nil || img.state != "COMPLETE" || img.checksum != a.Digest.Encoded() || img.size != a.Size {
				t.Errorf("image %s: %+v", loc.ID, img)
			}
		},
		Gone: func(t *testing.T, loc catalog.Location) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fake.images[loc.ID] != nil {
				t.Errorf("image %s still exists", loc.ID)
			}
		},
		Empty: func(t *testing.T) {
			fake.mu.Lock()
			defer fake.mu.Unlock()
			for uuid, img := range fake.images {
				t.Errorf("image %s (%s, %s) left", uuid, img.name, img.state)
			}
		},
	})
}

// A Prism task can fail after its request was accepted: the fake ends it
// FAILED with an error_detail. Register returns ErrTask and deletes the
// image; a failed delete task is an ErrTask of Deregister, and the image
// stays for the next one.
func TestRegisterTaskFailures(t *testing.T) {
	for _, op := range []string{"create", "upload"} {
		t.Run(op, func(t *testing.T) {
			r, fake := newTestRegistrar(t)
			a, _ := qcow2Artifact(t, 8<<20)
			fake.failTask[op] = "injected " + op + " task failure"
			_, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Nutanix, a, 1))
			if !errors.Is(err, ErrTask) || !strings.Contains(err.Error(), "injected "+op) {
				t.Fatalf("Register = %v, want ErrTask", err)
			}
			if len(fake.images) != 0 || fake.calls["delete"] != 1 {
				t.Errorf("calls %v, %d images left", fake.calls, len(fake.images))
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		r, fake := newTestRegistrar(t)
		a, _ := qcow2Artifact(t, 8<<20)
		ctx := context.Background()
		loc, err := r.Register(ctx, a, catalogtest.EntryFor(vm.Nutanix, a, 1))
		if err != nil {
			t.Fatal(err)
		}
		fake.failTask["delete"] = "injected delete task failure"
		if err := r.Deregister(ctx, loc); !errors.Is(err, ErrTask) {
			t.Fatalf("Deregister = %v, want ErrTask", err)
		}
		if fake.images[loc.ID] == nil {
			t.Fatal("a failed delete task removed the image")
		}
		delete(fake.failTask, "delete")
		if err := r.Deregister(ctx, loc); err != nil || len(fake.images) != 0 {
			t.Fatalf("second Deregister: %v, %d images", err, len(fake.images))
		}
	})
}
