package catalogtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// RegistrarConfig tells [RunRegistrar] how to look at the registrar's
// target. Check and Gone are required: a registrar that says it registered
// something proves nothing until the target is asked.
type RegistrarConfig struct {
	// Artifact returns the artifact to register (a real file in a format the
	// registrar accepts). Default: a 4 MiB sparse raw disk, named for the
	// first format the registrar accepts.
	Artifact func(t *testing.T) artifact.Artifact
	// Check fails t unless the target holds a at loc.
	Check func(t *testing.T, loc catalog.Location, a artifact.Artifact)
	// Gone fails t unless the target no longer holds loc.
	Gone func(t *testing.T, loc catalog.Location)
}

// RunRegistrar checks that r registers an artifact where cfg.Check finds
// it, verifies digests, is idempotent, deregisters (twice without error),
// honours cancellation, and is rolled back by catalog.Publish when another
// target fails.
func RunRegistrar(t *testing.T, r catalog.Registrar, cfg RegistrarConfig) {
	t.Helper()
	if cfg.Check == nil || cfg.Gone == nil {
		t.Fatal("catalogtest: RegistrarConfig needs Check and Gone")
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
	})

	t.Run("WrongDigest", func(t *testing.T) {
		a := mk(t)
		a.Digest = digest.Digest(Digest("not the content"))
		e := EntryFor(r.Target(), a, 2)
		if loc, err := r.Register(ctx, a, e); err == nil {
			r.Deregister(ctx, loc)
			t.Fatal("Register of an artifact whose digest is wrong succeeded")
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		a := mk(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if loc, err := r.Register(cctx, a, EntryFor(r.Target(), a, 3)); err == nil {
			r.Deregister(ctx, loc)
			t.Fatal("Register with a cancelled context succeeded")
		}
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
	})
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
	sum := sha256.Sum256(b)
	return artifact.Artifact{Format: format, Path: p, Size: int64(len(b)), VirtualSize: int64(len(b)), Digest: digest.Digest("sha256:" + hex.EncodeToString(sum[:]))}
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
