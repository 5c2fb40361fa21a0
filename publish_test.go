package hardvm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// copyTree copies the regular files of src into dst (a new directory), as
// moving a build directory to another machine does; the package cache is
// left behind.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Build on one machine (directory A), copy the directory to another (B)
// and remove A, then publish from B alone with the key the publisher
// trusts. Tampered copies are refused and register nothing.
func TestPublishFromCopiedDirectory(t *testing.T) {
	ctx := context.Background()
	spec := demoSpec(t, vm.QEMU, vm.FormatQCOW2)
	key, err := provenance.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := provenance.NewSigner(provenance.WithKey(key))
	if err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(t.TempDir(), "a")
	built, err := Build(ctx, spec, WithOutputDir(a), WithSigner(signer))
	if err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(t.TempDir(), "b")
	copyTree(t, a, b)
	if err := os.RemoveAll(a); err != nil {
		t.Fatal(err)
	}
	trusted, err := provenance.TrustKeys(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	newCatalog := func() (catalog.Store, string) {
		store, err := local.Open(filepath.Join(t.TempDir(), "catalog"))
		if err != nil {
			t.Fatal(err)
		}
		return store, filepath.Join(t.TempDir(), "images")
	}
	publishFrom := func(dir string, store catalog.Store, images string, opts ...Option) (catalog.Entry, error) {
		reg, err := local.NewRegistrar(images)
		if err != nil {
			t.Fatal(err)
		}
		return Publish(ctx, dir, append([]Option{WithStore(store), WithRegistrars(reg), PublishNotBootableUnsafe()}, opts...)...)
	}

	store, images := newCatalog()
	e, err := publishFrom(b, store, images, WithTrustedMaterial(trusted))
	if err != nil {
		t.Fatal(err)
	}
	if e.Ref != built.Entry.Ref || len(e.Artifacts) != 2 || len(e.Locations) != 2 || e.Kernel != built.Entry.Kernel || len(e.Packages) != len(built.Lock.Packages) {
		t.Fatalf("published %+v, built %+v", e, built.Entry)
	}
	if blobs, _ := os.ReadDir(filepath.Join(images, "blobs", "sha256")); len(blobs) != 2 {
		t.Errorf("%d blobs registered, want the 2 disks", len(blobs))
	}
	if got, err := store.Get(ctx, e.Ref); err != nil || got.Ref != e.Ref {
		t.Fatalf("catalog: %v %v", got.Ref, err)
	}

	// Tampered copies: each refused, nothing registered or recorded.
	for _, tc := range []struct {
		name   string
		tamper func(dir string)
		opts   []Option
		want   error
	}{
		{"lock.json says a later build", func(d string) {
			replaceIn(t, filepath.Join(d, builddir.LockFile), `"source_date_epoch": 1763856000`, `"source_date_epoch": 4102444800`)
		}, nil, provenance.ErrLock},
		{"lock.json says another package version", func(d string) {
			replaceIn(t, filepath.Join(d, builddir.LockFile), `"version": "10.2_p1-r0"`, `"version": "99.9"`)
		}, nil, provenance.ErrLock},
		{"a disk changed", func(d string) { flip(t, filepath.Join(d, "disk.qcow2"), 4096) }, nil, provenance.ErrSubjectMismatch},
		{"the directory's own key.pub swapped for another's", func(d string) {
			other, _ := provenance.GenerateKey()
			provenance.WritePublicKeyFile(filepath.Join(d, builddir.PublicKeyFile), other.Public())
		}, []Option{WithTrustedMaterial(mustTrust(t))}, provenance.ErrSignature},
		{"no trusted material", func(string) {}, []Option{}, ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := filepath.Join(t.TempDir(), "c")
			copyTree(t, b, c)
			tc.tamper(c)
			opts := tc.opts
			if opts == nil {
				opts = []Option{WithTrustedMaterial(trusted)}
			}
			store, images := newCatalog()
			_, err := publishFrom(c, store, images, opts...)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrRelease) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if es, _ := store.Find(ctx, catalog.Query{}); len(es) != 0 {
				t.Errorf("%d entries recorded", len(es))
			}
			if blobs, _ := os.ReadDir(filepath.Join(images, "blobs", "sha256")); len(blobs) != 0 {
				t.Errorf("%d blobs registered", len(blobs))
			}
		})
	}

	// The image does not boot: without the Unsafe option it is refused.
	store, images = newCatalog()
	reg, _ := local.NewRegistrar(images)
	if _, err := Publish(ctx, b, WithStore(store), WithRegistrars(reg), WithTrustedMaterial(trusted)); !errors.Is(err, ErrNotBootable) {
		t.Fatalf("a non-bootable image published: %v", err)
	}
	if _, err := Publish(ctx, b, WithTrustedMaterial(trusted)); !errors.Is(err, ErrRelease) || !strings.Contains(err.Error(), "WithStore") {
		t.Errorf("no store: %v", err)
	}
	// Unverified (tests only): the same entry, no key needed.
	store, images = newCatalog()
	if u, err := publishFrom(b, store, images, PublishUnverifiedUnsafe()); err != nil || u.Ref != e.Ref {
		t.Errorf("unverified: %v %v", u.Ref, err)
	}
}

func mustTrust(t *testing.T) *provenance.TrustedMaterial {
	k, err := provenance.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := provenance.TrustKeys(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s lacks %s", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Release and Publish share one publish step: it refuses a build whose
// provenance names no kernel before anything is registered, unless told.
func TestPublishStepNotBootable(t *testing.T) {
	store := catalogtest.NewMemStore()
	o, err := applyOptions([]Option{WithStore(store)})
	if err != nil {
		t.Fatal(err)
	}
	spec := planSpec()
	b := &builddir.Build{Ref: spec.Ref()}
	if _, err := publish(t.Context(), o, b); !errors.Is(err, ErrNotBootable) || !errors.Is(err, ErrRelease) {
		t.Fatalf("err = %v", err)
	}
	if es, _ := store.Find(t.Context(), catalog.Query{}); len(es) != 0 {
		t.Errorf("%d entries recorded", len(es))
	}
	// Told so, it goes on (and this empty build fails further on).
	o.notBootable = true
	if _, err := publish(t.Context(), o, b); errors.Is(err, ErrNotBootable) || err == nil {
		t.Fatalf("with PublishNotBootableUnsafe: %v", err)
	}
}
