package catalogtest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// RegistrarConfig tells [RunRegistrar] how to look at the registrar's
// target. Check, Gone and Empty are required: a registrar that says it
// registered something, or nothing, proves nothing until the target is
// asked.
type RegistrarConfig struct {
	// Artifact returns the artifact to register (a real file in a format the
	// registrar accepts). Default: a 4 MiB sparse raw disk, named for the
	// first format the registrar accepts.
	Artifact func(t *testing.T) artifact.Artifact
	// Tamper returns a copy of a whose file has other content of the same
	// size, and a's digest, such that the registrar's checks before its
	// upload pass: only the digest, checked while the file streams, tells.
	// Default: [Tamper], which changes the byte in the middle of the file.
	Tamper func(t *testing.T, a artifact.Artifact) artifact.Artifact
	// Check fails t unless the target holds a at loc.
	Check func(t *testing.T, loc catalog.Location, a artifact.Artifact)
	// Gone fails t unless the target no longer holds loc.
	Gone func(t *testing.T, loc catalog.Location)
	// Empty fails t unless the target holds nothing of the registrar's: no
	// image, no uploaded file, object or blob, no upload in progress (a
	// multipart upload, an import lease). It is called after every
	// registration that must fail: nothing half-registered may remain.
	Empty func(t *testing.T)
}

// RunRegistrar checks that r registers an artifact where cfg.Check finds
// it, is idempotent, deregisters (twice without error), honours
// cancellation, and is rolled back by catalog.Publish when another target
// fails; and that it refuses an artifact whose file does not have its
// digest, found out while the file streams, with a *catalog.ArtifactError
// (catalog.ErrRejected, catalog.ErrDigest) naming the target and the
// artifact, leaving nothing on the target (cfg.Empty).
func RunRegistrar(t *testing.T, r catalog.Registrar, cfg RegistrarConfig) {
	t.Helper()
	if cfg.Check == nil || cfg.Gone == nil || cfg.Empty == nil {
		t.Fatal("catalogtest: RegistrarConfig needs Check, Gone and Empty")
	}
	tamper := cfg.Tamper
	if tamper == nil {
		tamper = Tamper
	}
	if !r.Target().Valid() {
		t.Fatalf("Target() = %q, not a vm.Cloud", r.Target())
	}
	ctx := context.Background()
	mk := cfg.Artifact
	if mk == nil {
		mk = func(t *testing.T) artifact.Artifact { return RawArtifact(t, r) }
	}

	t.Run("RegisterDeregister", func(t *testing.T) {
		a := mk(t)
		e := EntryFor(r.Target(), a, 1)
		loc, err := r.Register(ctx, a, e)
		if err != nil {
			t.Fatal(err)
		}
		if loc.ID == "" || (loc.Target != "" && loc.Target != r.Target()) || (loc.Digest != "" && loc.Digest != a.Digest) {
			t.Fatalf("Register returned %+v for target %s, digest %s", loc, r.Target(), a.Digest)
		}
		if loc.Target == "" {
			loc.Target = r.Target()
		}
		cfg.Check(t, loc, a)
		again, err := r.Register(ctx, a, e)
		if err != nil {
			t.Fatalf("second Register of the same artifact: %v", err)
		}
		if again.ID != loc.ID {
			t.Errorf("second Register: id %s, first %s", again.ID, loc.ID)
		}
		if err := r.Deregister(ctx, loc); err != nil {
			t.Fatal(err)
		}
		cfg.Gone(t, loc)
		if err := r.Deregister(ctx, loc); err != nil {
			t.Errorf("Deregister of a location already gone: %v", err)
		}
		cfg.Empty(t)
	})

	// The recorded digest is not the file's.
	t.Run("WrongDigest", func(t *testing.T) {
		a := mk(t)
		a.Digest = Digest("not the content")
		rejected(t, r, cfg, a, 2)
	})

	// The file is not the one whose digest was recorded, though it passes
	// the registrar's checks: the upload finds out at its end.
	t.Run("Tampered", func(t *testing.T) {
		rejected(t, r, cfg, tamper(t, mk(t)), 5)
	})

	t.Run("Cancelled", func(t *testing.T) {
		a := mk(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if loc, err := r.Register(cctx, a, EntryFor(r.Target(), a, 3)); err == nil {
			r.Deregister(ctx, loc)
			t.Fatal("Register with a cancelled context succeeded")
		}
		cfg.Empty(t)
	})

	t.Run("PublishRollback", func(t *testing.T) {
		a := mk(t)
		e := EntryFor(r.Target(), a, 4)
		var got []catalog.Location
		spy := &spyRegistrar{Registrar: r, locs: &got}
		store := &memStore{}
		_, err := catalog.Publish(ctx, store, catalog.Release{Entry: e, Artifacts: []artifact.Artifact{a}},
			catalog.PublishUnverifiedUnsafe(), catalog.WithJobs(1),
			catalog.WithRegistrars(spy, failing{target: otherTarget(r.Target())}))
		var te *catalog.TargetError
		if !errors.Is(err, catalog.ErrPublish) || !errors.As(err, &te) || te.Target != string(otherTarget(r.Target())) {
			t.Fatalf("Publish with a failing target: %v, want ErrPublish naming %s", err, otherTarget(r.Target()))
		}
		if len(got) != 1 {
			t.Fatalf("registrar registered %d locations, want 1", len(got))
		}
		cfg.Gone(t, got[0])
		if _, err := store.Get(ctx, e.Ref); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("entry recorded after a failed publish: %v", err)
		}
		cfg.Empty(t)
	})

	// A rejection reaches the caller of catalog.Publish as such.
	t.Run("PublishRejected", func(t *testing.T) {
		a := tamper(t, mk(t))
		e := EntryFor(r.Target(), a, 6)
		store := &memStore{}
		_, err := catalog.Publish(ctx, store, catalog.Release{Entry: e, Artifacts: []artifact.Artifact{a}},
			catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(&spyRegistrar{Registrar: r, locs: new([]catalog.Location)}))
		var te *catalog.TargetError
		if !errors.Is(err, catalog.ErrPublish) || !errors.Is(err, catalog.ErrRejected) || !errors.As(err, &te) || te.Target != string(r.Target()) {
			t.Fatalf("Publish of a tampered artifact: %v, want ErrPublish and ErrRejected from %s", err, r.Target())
		}
		if _, err := store.Get(ctx, e.Ref); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("entry recorded after a rejected publish: %v", err)
		}
		cfg.Empty(t)
	})
}

// rejected checks that r refuses a (as build n) for its digest, saying so
// with the data a caller needs, and leaves nothing on its target.
func rejected(t *testing.T, r catalog.Registrar, cfg RegistrarConfig, a artifact.Artifact, n int) {
	t.Helper()
	loc, err := r.Register(context.Background(), a, EntryFor(r.Target(), a, n))
	if err == nil {
		r.Deregister(context.Background(), loc)
		t.Fatal("Register of an artifact whose file does not have its digest succeeded")
	}
	var ae *catalog.ArtifactError
	if !errors.Is(err, catalog.ErrRejected) || !errors.Is(err, catalog.ErrDigest) || !errors.As(err, &ae) {
		t.Errorf("Register = %v, want a *catalog.ArtifactError (ErrRejected, ErrDigest)", err)
	} else if ae.Target != string(r.Target()) || ae.Artifact != a.Name() || ae.Rule != catalog.RuleDigest {
		t.Errorf("ArtifactError says target %q, artifact %q, rule %q; want %s, %s, %s", ae.Target, ae.Artifact, ae.Rule, r.Target(), a.Name(), catalog.RuleDigest)
	}
	cfg.Empty(t)
}

// Tamper copies a's file (keeping its holes), changes the byte in its
// middle and returns the copy with a's digest: an artifact whose file is
// not what was recorded.
func Tamper(t *testing.T, a artifact.Artifact) artifact.Artifact {
	t.Helper()
	return TamperAt(t, a, -1)
}

// TamperAt is [Tamper] changing the byte at off instead (the middle one
// when off is outside the file), for formats whose registrar checks the
// middle of the file before its upload.
func TamperAt(t *testing.T, a artifact.Artifact, off int64) artifact.Artifact {
	t.Helper()
	src, err := os.Open(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(t.TempDir(), a.Name())
	dst, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	w := sparse.NewWriter(dst, 4096)
	n, err := io.Copy(w, src)
	if err == nil {
		err = w.Finish()
	}
	if err != nil || n == 0 {
		t.Fatalf("catalogtest: copy %s (%d bytes): %v", a.Path, n, err)
	}
	if off < 0 || off >= n {
		off = n / 2
	}
	var b [1]byte
	if _, err := dst.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := dst.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	a.Path = p
	return a
}

// RawArtifact writes a 4 MiB raw disk with data at both ends and a hole in
// the middle and returns it as an artifact in the first format r accepts.
func RawArtifact(t *testing.T, r catalog.Registrar) artifact.Artifact {
	t.Helper()
	format := vm.FormatRaw
	for _, f := range vm.DiskFormats() {
		if acceptsFormat(r, f) {
			format = f
			break
		}
	}
	p := filepath.Join(t.TempDir(), "disk"+format.Ext())
	b := make([]byte, 4<<20)
	copy(b, "hardvm catalogtest disk\n")
	copy(b[len(b)-4096:], "end of disk\n")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return artifact.Artifact{Format: format, Path: p, Size: int64(len(b)), VirtualSize: int64(len(b)), Digest: digest.FromBytes(b)}
}

func acceptsFormat(r catalog.Registrar, f vm.DiskFormat) bool {
	if fa, ok := r.(catalog.FormatAccepter); ok {
		return fa.Accepts(f)
	}
	p, err := vm.LookupPlatform(r.Target())
	return err == nil && p.Accepts(f)
}

// EntryFor returns a valid entry of build n of base/<target>/x86_64/stable
// whose only artifact is a.
func EntryFor(target vm.Cloud, a artifact.Artifact, n int) catalog.Entry {
	e := NewEntry("base/"+string(target)+"/x86_64/stable", n, 3)
	e.Ref.Digest = a.Digest
	a.Ref = e.Ref
	e.Artifacts = []catalog.Artifact{catalog.ArtifactOf(a)}
	return e
}

func otherTarget(c vm.Cloud) vm.Cloud {
	if c == vm.AWS {
		return vm.GCP
	}
	return vm.AWS
}

// failing is a registrar whose target always fails.
type failing struct{ target vm.Cloud }

func (f failing) Target() vm.Cloud           { return f.target }
func (f failing) Accepts(vm.DiskFormat) bool { return true }
func (f failing) Register(context.Context, artifact.Artifact, catalog.Entry) (catalog.Location, error) {
	return catalog.Location{}, errors.New("catalogtest: this target always fails")
}
func (f failing) Deregister(context.Context, catalog.Location) error { return nil }

// spyRegistrar records what the registrar under test registered, and
// accepts every format so that Publish hands it the artifact.
type spyRegistrar struct {
	catalog.Registrar
	locs *[]catalog.Location
}

func (s *spyRegistrar) Accepts(vm.DiskFormat) bool { return true }

func (s *spyRegistrar) Register(ctx context.Context, a artifact.Artifact, e catalog.Entry) (catalog.Location, error) {
	loc, err := s.Registrar.Register(ctx, a, e)
	if err == nil {
		if loc.Target == "" {
			loc.Target = s.Target()
		}
		*s.locs = append(*s.locs, loc)
	}
	return loc, err
}
