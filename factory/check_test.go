package factory_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/image/apk/secdb"
	"github.com/hardvm/hardvm/vm"
)

// TestCheck: 12 streams over two HTTP repositories. Nothing published:
// every stream is stale, and the check fetches each index once. Published:
// none is, and checking costs one conditional request per repository (the
// streams share the fetches), all answered 304, with no package
// downloaded. Two packages bumped (one with a security fix):
// exactly the 8 streams that install them are stale, their deltas name
// the upgrade and, for nginx, the CVE.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	r := newRepos(t)
	srv := serve(t, r.dir)
	demo, extras := r.demo, r.extras
	demo.URL, extras.URL = srv.URL+"/demo", srv.URL+"/extras"
	ss := specs(demo, extras)
	store := catalogtest.NewMemStore()
	db, err := secdb.Parse([]byte(secdbJSON))
	if err != nil {
		t.Fatal(err)
	}
	opts := []factory.Option{factory.WithCacheDir(t.TempDir()), factory.WithFixes(db), factory.WithHTTPClient(http.DefaultClient)}

	stale, err := factory.Check(ctx, store, ss, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if sent, unchanged, _ := srv.counts(); sent != 2 || unchanged != 0 {
		t.Errorf("first check: %d requests, %d answered 304; want one per repository, 2", sent, unchanged)
	}
	if len(stale) != 12 {
		t.Fatalf("%d stale streams in an empty catalog, want 12", len(stale))
	}
	for _, s := range stale {
		if s.Latest != nil || len(s.Delta.Added) == 0 || s.Spec.Ref().Version != (vm.Version{Epoch: release1Time}) {
			t.Errorf("%s: latest %v, %d added, version %s", s.Stream, s.Latest, len(s.Delta.Added), s.Spec.Ref().Version)
		}
	}

	publishLocks(t, store, ss, vm.Version{Epoch: release1Time})
	before, unchangedBefore, _ := srv.counts()
	stale, err = factory.Check(ctx, store, ss, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 {
		t.Fatalf("unchanged repositories: %d stale streams (%s), want none", len(stale), stale[0].Stream)
	}
	after, unchanged, packages := srv.counts()
	if sent := after - before; sent != 2 || unchanged-unchangedBefore != 2 {
		t.Errorf("unchanged check: %d requests, %d answered 304; want 2, both 304", sent, unchanged-unchangedBefore)
	}
	if packages != 0 {
		t.Errorf("checking downloaded %d packages", packages)
	}

	r.bump(t)
	before, unchangedBefore, _ = srv.counts()
	stale, err = factory.Check(ctx, store, ss, opts...)
	if err != nil {
		t.Fatal(err)
	}
	// The demo repository unchanged (304), the extras fetched whole.
	if after, unchanged, _ := srv.counts(); after-before != 2 || unchanged-unchangedBefore != 1 {
		t.Errorf("check after the bump: %d requests, %d answered 304; want 2, one 304", after-before, unchanged-unchangedBefore)
	}
	var got []string
	for _, s := range stale {
		got = append(got, s.Stream)
		if len(s.Delta.Upgraded) != 1 || s.Delta.Changed() != 1 || s.Latest == nil {
			t.Errorf("%s: delta %s", s.Stream, s.Delta.Summary())
		}
		if s.Spec.Ref().Version != (vm.Version{Epoch: release2Time}) {
			t.Errorf("%s: next version %s, want the newest build time %d", s.Stream, s.Spec.Ref().Version, release2Time)
		}
		want := []string(nil)
		if strings.HasPrefix(s.Stream, "nginx/") {
			want = []string{"CVE-2026-1111"}
		}
		if !slices.Equal(s.Delta.Fixes, want) {
			t.Errorf("%s: fixes %v, want %v", s.Stream, s.Delta.Fixes, want)
		}
		if j := s.Job(); j.Validate() != nil || j.ID() != s.Stream+"@"+string(s.Lock) {
			t.Errorf("%s: job %v: %v", s.Stream, j.ID(), j.Validate())
		}
	}
	want := []string{
		"nginx/qemu/x86_64/stable", "nginx/qemu/x86_64/lts", "nginx/aws/x86_64/stable", "nginx/aws/x86_64/lts",
		"squid/qemu/x86_64/stable", "squid/qemu/x86_64/lts", "squid/aws/x86_64/stable", "squid/aws/x86_64/lts",
	}
	if !slices.Equal(got, want) {
		t.Errorf("stale after the bump: %v, want %v", got, want)
	}
	if _, _, packages := srv.counts(); packages != 0 {
		t.Errorf("checking downloaded %d packages", packages)
	}
}

func TestCheckRefuses(t *testing.T) {
	ss := specs(vm.Repository{URL: "file:///nonexistent", Keys: []string{"/nonexistent.rsa.pub"}, Family: vm.Wolfi})
	if _, err := factory.Check(context.Background(), catalogtest.NewMemStore(), append(ss, ss[3])); !errors.Is(err, factory.ErrSpec) {
		t.Errorf("a stream listed twice: %v", err)
	}
	bad := ss[0]
	bad.Arch = "sparc"
	if _, err := factory.Check(context.Background(), catalogtest.NewMemStore(), []vm.Spec{bad}); !errors.Is(err, factory.ErrSpec) {
		t.Errorf("an invalid spec: %v", err)
	}
	if _, err := factory.Check(context.Background(), catalogtest.NewMemStore(), ss, factory.WithConcurrency(0)); err == nil {
		t.Error("concurrency 0 accepted")
	}
}

// TestFactoryKeepsIndexes: a factory keeps the indexes it checked in
// JetStream (validators in the bucket, bytes in the object store), so the
// next poll, by it or by another factory on the same queue with nothing
// on disk, costs one conditional request per repository, answered 304.
func TestFactoryKeepsIndexes(t *testing.T) {
	ctx := context.Background()
	r := newRepos(t)
	srv := serve(t, r.dir)
	demo, extras := r.demo, r.extras
	demo.URL, extras.URL = srv.URL+"/demo", srv.URL+"/extras"
	ss := specs(demo, extras)
	store := catalogtest.NewMemStore()
	publishLocks(t, store, ss, vm.Version{Epoch: release1Time})
	q := embedded(t)
	poll := func(id string, wantSent, want304 int) {
		t.Helper()
		f, err := factory.NewFactory(q, store, ss, factory.WithID(id), factory.WithHTTPClient(http.DefaultClient))
		if err != nil {
			t.Fatal(err)
		}
		before, unchanged0, _ := srv.counts()
		stale, n, err := f.Poll(ctx)
		if err != nil || len(stale) != 0 || n != 0 {
			t.Fatalf("%s: poll: %d stale, %d jobs, %v; want none", id, len(stale), n, err)
		}
		after, unchanged, _ := srv.counts()
		if after-before != wantSent || unchanged-unchanged0 != want304 {
			t.Errorf("%s: %d requests, %d answered 304; want %d, %d", id, after-before, unchanged-unchanged0, wantSent, want304)
		}
	}
	poll("a", 2, 0)
	poll("a", 2, 2)
	poll("b", 2, 2)
}
