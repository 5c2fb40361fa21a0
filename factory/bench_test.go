package factory_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/vm"
)

// benchSpecs returns up to n valid streams over repo: every variant,
// platform, arch, kernel track and FIPS mode.
func benchSpecs(n int, repo vm.Repository) []vm.Spec {
	var out []vm.Spec
	for _, v := range vm.Variants() {
		for _, p := range vm.Clouds() {
			for _, a := range vm.Arches() {
				for _, k := range vm.KernelTracks() {
					for _, fips := range []bool{false, true} {
						s := vm.Spec{Variant: v.Name, Platform: p, Arch: a, Kernel: k, FIPS: fips, SourceDateEpoch: 1,
							Repositories: []vm.Repository{repo}, Size: 256 << 20}
						if s.Validate() == nil && len(out) < n {
							out = append(out, s)
						}
					}
				}
			}
		}
	}
	return out
}

// BenchmarkCheckAllStreams measures the staleness check of every valid
// stream (296: the 400 exceeds the valid combinations) against
// one HTTP repository (both arches of the demo repository) with an index
// cache: "new" is an empty catalog (every stream stale), "unchanged" a
// catalog that has every stream's lock (every index answers 304, nothing
// stale), "changed" a repository that upgraded packages every stream
// installs since (every stream stale, with its delta). Reported: requests per check, and how many were
// answered 304; no package is downloaded.
//
//	go test -run '^$' -bench CheckAllStreams -benchtime 3x ./factory
func BenchmarkCheckAllStreams(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	for _, a := range vm.Arches() {
		if _, err := hardvmtest.WriteDemoRepository(filepath.Join(dir, "demo"), a, 1); err != nil {
			b.Fatal(err)
		}
	}
	srv := serve(b, dir)
	repo := vm.Repository{URL: srv.URL + "/demo", Keys: []string{filepath.Join(dir, "demo", hardvmtest.DemoKeyName)}, Family: vm.Wolfi}
	ss := benchSpecs(1000, repo)
	store := catalogtest.NewMemStore()
	opts := []factory.Option{factory.WithCacheDir(b.TempDir()), factory.WithHTTPClient(http.DefaultClient)}
	run := func(b *testing.B, wantStale int) {
		r0, u0, _ := srv.counts()
		for b.Loop() {
			stale, err := factory.Check(ctx, store, ss, opts...)
			if err != nil {
				b.Fatal(err)
			}
			if len(stale) != wantStale {
				b.Fatalf("%d stale, want %d", len(stale), wantStale)
			}
		}
		r1, u1, pk := srv.counts()
		b.ReportMetric(float64(r1-r0)/float64(b.N), "requests/op")
		b.ReportMetric(float64(u1-u0)/float64(b.N), "304s/op")
		if pk != 0 {
			b.Fatalf("%d package downloads", pk)
		}
	}
	b.Run("new", func(b *testing.B) { run(b, len(ss)) })
	publishLocks(b, store, ss, vm.Version{Epoch: 1763856000})
	b.Run("unchanged", func(b *testing.B) { run(b, 0) })
	for _, a := range vm.Arches() { // release 2 upgrades packages every stream installs
		if _, err := hardvmtest.WriteDemoRepository(filepath.Join(dir, "demo"), a, 2); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("changed", func(b *testing.B) { run(b, len(ss)) })
}
