package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// release writes two small disk files for build n and returns the release.
func release(t *testing.T, n int) catalog.Release {
	t.Helper()
	dir := t.TempDir()
	r, err := vm.ParseRef("base/qemu/x86_64/stable:" + vm.Version{Epoch: catalogtest.Base + int64(n)*3600}.String())
	if err != nil {
		t.Fatal(err)
	}
	var arts []artifact.Artifact
	for _, f := range []vm.DiskFormat{vm.FormatRaw, vm.FormatQCOW2} {
		b := []byte(strings.Repeat(string(f)+" of build "+r.Version.String()+"\n", 100))
		p := filepath.Join(dir, "disk"+f.Ext())
		os.WriteFile(p, b, 0o644)
		arts = append(arts, artifact.Artifact{Ref: r, Format: f, Path: p, Size: int64(len(b)), VirtualSize: 1 << 20, Digest: digest.FromBytes(b)})
	}
	e, err := catalog.NewEntry(nil, arts)
	if err != nil {
		t.Fatal(err)
	}
	return catalog.Release{Entry: e, Artifacts: arts}
}

func stores(t *testing.T) (*local.Store, *local.Registrar, string) {
	t.Helper()
	s, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir := t.TempDir()
	reg, err := local.NewRegistrar(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg, dir
}

// countVerifier verifies by checking the files' digests, and counts calls.
type countVerifier struct {
	mu sync.Mutex
	n  int
}

func (v *countVerifier) Verify(_ context.Context, r *catalog.Release) error {
	v.mu.Lock()
	v.n++
	v.mu.Unlock()
	for _, a := range r.Artifacts {
		b, err := os.ReadFile(a.Path)
		if err != nil {
			return err
		}
		if got := digest.FromBytes(b); got != a.Digest {
			return &catalog.DigestError{What: a.Path, Want: a.Digest, Got: got}
		}
	}
	return nil
}

func blobs(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.Contains(p, "blobs") {
			n++
		}
		return nil
	})
	return n
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	s, reg, regDir := stores(t)
	rel := release(t, 1)

	if _, err := catalog.Publish(ctx, s, rel, catalog.WithRegistrars(reg)); !errors.Is(err, catalog.ErrUnverified) {
		t.Fatalf("Publish without a verifier: %v, want ErrUnverified", err)
	}
	v := &countVerifier{}
	e, err := catalog.Publish(ctx, s, rel, catalog.WithVerifier(v), catalog.WithRegistrars(reg))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Locations) != 2 || e.Locations[0].Target != vm.QEMU || v.n != 1 || blobs(t, regDir) != 2 {
		t.Fatalf("published %+v after %d verifications, %d blobs", e.Locations, v.n, blobs(t, regDir))
	}
	if !e.Published.Equal(e.Ref.Version.Time()) {
		t.Errorf("published at %v, want the build epoch %v", e.Published, e.Ref.Version.Time())
	}
	got, err := s.Latest(ctx, catalog.Query{})
	if err != nil || got.Ref != e.Ref || len(got.Locations) != 2 {
		t.Fatalf("Latest after Publish: %+v, %v", got.Ref, err)
	}

	// Idempotent: publishing the same build again verifies it again,
	// registers nothing and returns the stored entry.
	again, err := catalog.Publish(ctx, s, rel, catalog.WithVerifier(v), catalog.WithRegistrars(reg))
	if err != nil || again.Ref != e.Ref || v.n != 2 || blobs(t, regDir) != 2 {
		t.Fatalf("second Publish: %v, %v (%d verifications)", again.Ref, err, v.n)
	}

	// The same Ref with other content conflicts before anything is registered.
	other := release(t, 1)
	os.WriteFile(other.Artifacts[0].Path, []byte("other"), 0o644)
	other.Artifacts[0].Digest, other.Artifacts[0].Size = catalogtest.Digest("other"), 5
	other.Entry.Artifacts[0].Digest, other.Entry.Artifacts[0].Size = other.Artifacts[0].Digest, 5
	other.Entry.Ref.Digest = other.Artifacts[0].Digest
	if _, err := catalog.Publish(ctx, s, other, catalog.WithVerifier(v), catalog.WithRegistrars(reg)); !errors.Is(err, catalog.ErrConflict) || v.n != 3 || blobs(t, regDir) != 2 {
		t.Fatalf("Publish of another digest: %v (%d verifications), want ErrConflict after verifying", err, v.n)
	}
}

// Issue 19, bug 1: a release the catalog already holds is verified again,
// every time: a tampered file or a release that fails verification is
// refused, never answered with the stored entry.
func TestPublishKnownVerifiesFirst(t *testing.T) {
	ctx := context.Background()
	s, reg, _ := stores(t)
	rel := release(t, 1)
	v := &countVerifier{}
	if _, err := catalog.Publish(ctx, s, rel, catalog.WithVerifier(v), catalog.WithRegistrars(reg)); err != nil {
		t.Fatal(err)
	}
	// One flipped byte in the qcow2, same size: the entry (keyed by the raw
	// disk) is known, the release is not what was verified.
	p := rel.Artifacts[1].Path
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[10] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.Publish(ctx, s, rel, catalog.WithVerifier(v), catalog.WithRegistrars(reg))
	if !errors.Is(err, catalog.ErrVerify) || !errors.Is(err, catalog.ErrDigest) {
		t.Fatalf("re-publish of a tampered release: %v, want ErrVerify and ErrDigest", err)
	}
	refuse := catalog.VerifierFunc(func(context.Context, *catalog.Release) error { return errors.New("signed by another key") })
	if _, err := catalog.Publish(ctx, s, release(t, 1), catalog.WithVerifier(refuse)); !errors.Is(err, catalog.ErrVerify) {
		t.Fatalf("re-publish refused by the verifier: %v, want ErrVerify", err)
	}
}

// targetRegistrar registers on a target of its choice and records what it
// registered (a stand-in for a cloud's registrar in this test of Publish's
// logic; the real registrars are tested against their peers).
type targetRegistrar struct {
	target vm.Cloud
	mu     sync.Mutex
	ids    []string
}

func (r *targetRegistrar) Target() vm.Cloud           { return r.target }
func (r *targetRegistrar) Accepts(vm.DiskFormat) bool { return true }
func (r *targetRegistrar) Register(_ context.Context, a artifact.Artifact, _ catalog.Entry) (catalog.Location, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := fmt.Sprintf("%s-%d", r.target, len(r.ids))
	r.ids = append(r.ids, id)
	return catalog.Location{ID: id}, nil
}
func (r *targetRegistrar) Deregister(context.Context, catalog.Location) error { return nil }

// Issue 19, bug 1: a known image published to a new target is registered
// there and the catalog records the new location; targets that hold it are
// not registered again.
func TestPublishKnownNewTarget(t *testing.T) {
	ctx := context.Background()
	s, reg, _ := stores(t)
	rel := release(t, 1)
	v := &countVerifier{}
	first, err := catalog.Publish(ctx, s, rel, catalog.WithVerifier(v), catalog.WithRegistrars(reg))
	if err != nil {
		t.Fatal(err)
	}
	aws := &targetRegistrar{target: vm.AWS}
	e, err := catalog.Publish(ctx, s, rel, catalog.WithVerifier(v), catalog.WithRegistrars(reg, aws))
	if err != nil {
		t.Fatal(err)
	}
	if len(aws.ids) != 2 || len(e.Locations) != len(first.Locations)+2 || v.n != 2 {
		t.Fatalf("publish to a new target: registered %v, locations %+v, %d verifications", aws.ids, e.Locations, v.n)
	}
	got, err := s.Get(ctx, e.Ref)
	if err != nil || len(got.Locations) != len(e.Locations) {
		t.Fatalf("stored entry after a new target: %+v, %v", got.Locations, err)
	}
	// Again: both targets hold it, nothing is registered.
	if e, err = catalog.Publish(ctx, s, rel, catalog.WithVerifier(v), catalog.WithRegistrars(reg, aws)); err != nil || len(aws.ids) != 2 || len(e.Locations) != len(got.Locations) {
		t.Fatalf("third publish: %v, registered %v, %d locations", err, aws.ids, len(e.Locations))
	}
}

func TestPublishVerifyFails(t *testing.T) {
	ctx := context.Background()
	s, reg, regDir := stores(t)
	rel := release(t, 2)
	// The file changed after the build: the verifier catches it and nothing
	// is registered or recorded.
	os.WriteFile(rel.Artifacts[1].Path, []byte(strings.Repeat("tampered\n", 200)), 0o644)
	_, err := catalog.Publish(ctx, s, rel, catalog.WithVerifier(&countVerifier{}), catalog.WithRegistrars(reg))
	if !errors.Is(err, catalog.ErrVerify) || !errors.Is(err, catalog.ErrDigest) {
		t.Fatalf("Publish of a tampered release: %v, want ErrVerify and ErrDigest", err)
	}
	if n := blobs(t, regDir); n != 0 {
		t.Errorf("%d blobs registered by a publish that failed verification", n)
	}
	if _, err := s.Latest(ctx, catalog.Query{}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("entry recorded: %v", err)
	}
}

// flaky registers on its target, failing after ok successes.
type flaky struct {
	target vm.Cloud
	ok     int
	mu     sync.Mutex
	live   map[string]bool
}

func (f *flaky) Target() vm.Cloud { return f.target }
func (f *flaky) Register(_ context.Context, a artifact.Artifact, e catalog.Entry) (catalog.Location, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == 0 {
		return catalog.Location{}, errors.New("quota exceeded")
	}
	f.ok--
	id := e.Ref.String() + "/" + a.Name()
	f.live[id] = true
	return catalog.Location{Region: "eu-west-1", ID: id}, nil
}
func (f *flaky) Deregister(_ context.Context, l catalog.Location) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, l.ID)
	return nil
}

func TestPublishRollback(t *testing.T) {
	ctx := context.Background()
	s, reg, regDir := stores(t)
	rel := release(t, 3)
	// AWS accepts raw (and vhd): it gets one artifact, the one that fails.
	aws := &flaky{target: vm.AWS, ok: 0, live: map[string]bool{}}
	_, err := catalog.Publish(ctx, s, rel, catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg, aws))
	var te *catalog.TargetError
	if !errors.Is(err, catalog.ErrPublish) || !errors.As(err, &te) || te.Target != "aws" || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("Publish with a failing target: %v", err)
	}
	if n := blobs(t, regDir); n != 0 {
		t.Errorf("%d blobs left on the local target after rollback", n)
	}
	if _, err := s.Latest(ctx, catalog.Query{}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("entry recorded after a failed publish: %v", err)
	}
	// With the quota back, it publishes, with a region to query by.
	aws.ok = 1
	e, err := catalog.Publish(ctx, s, rel, catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg, aws))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Locations) != 3 || len(aws.live) != 1 {
		t.Fatalf("locations %+v", e.Locations)
	}
	if got, err := s.Latest(ctx, catalog.Query{Region: "eu-west-1"}); err != nil || got.Ref != e.Ref {
		t.Fatalf("Latest by region: %v", err)
	}
}

// Publishers of the same build race: one entry, every publisher gets it,
// and no duplicate registration is left behind.
func TestPublishConcurrent(t *testing.T) {
	ctx := context.Background()
	s, reg, regDir := stores(t)
	rel := release(t, 4)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	refs := make([]vm.Ref, 6)
	for i := range errs {
		wg.Go(func() {
			var e catalog.Entry
			e, errs[i] = catalog.Publish(ctx, s, rel, catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg))
			refs[i] = e.Ref
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || refs[i] != rel.Entry.Ref {
			t.Errorf("publisher %d: %v, %v", i, refs[i], err)
		}
	}
	if n := blobs(t, regDir); n != 2 {
		t.Errorf("%d blobs, want 2", n)
	}
	if es, err := s.Find(ctx, catalog.Query{}); err != nil || len(es) != 1 {
		t.Errorf("%d entries, %v", len(es), err)
	}
}

func TestDeprecate(t *testing.T) {
	ctx := context.Background()
	s, reg, _ := stores(t)
	old, err := catalog.Publish(ctx, s, release(t, 5), catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := catalog.Publish(ctx, s, release(t, 6), catalog.PublishUnverifiedUnsafe(), catalog.WithRegistrars(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.Deprecate(ctx, s, old.Ref, catalog.Deprecation{}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("Deprecate without a time: %v", err)
	}
	missing := cur.Ref
	missing.Version.Build = 9
	if _, err := catalog.Deprecate(ctx, s, old.Ref, catalog.Deprecation{Replacement: &missing}, catalog.WithPublishedAt(cur.Published)); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Deprecate with a missing replacement: %v", err)
	}
	e, err := catalog.Deprecate(ctx, s, old.Ref, catalog.Deprecation{Replacement: &cur.Ref, Reason: "CVE-2026-0001"}, catalog.WithPublishedAt(cur.Published), catalog.WithRegistrars(reg))
	if err != nil {
		t.Fatal(err)
	}
	if e.Deprecation == nil || !e.Deprecation.Time.Equal(cur.Published) || e.Deprecation.Replacement.Version != cur.Ref.Version {
		t.Fatalf("deprecation %+v", e.Deprecation)
	}
	if es, _ := s.Find(ctx, catalog.Query{}); len(es) != 1 || es[0].Ref != cur.Ref {
		t.Errorf("Find without deprecated: %d entries", len(es))
	}
}
