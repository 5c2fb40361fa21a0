package factory_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

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
// stream (296: the 400 exceeds the valid combinations of variant,
// platform, arch, kernel track and FIPS) against one HTTP repository
// (both arches of the demo repository), keeping the indexes between
// checks in a cache directory: "new" is an empty catalog (every stream
// stale), "unchanged" a catalog that has every stream's lock (each index
// answers 304, nothing stale), "changed" a repository that upgraded
// packages every stream installs (each check fetches both indexes whole:
// its cache is emptied before each, as after every change; every stream
// stale, with its delta). Reported: ns/op, requests sent per check and how
// many were answered 304; no package is downloaded.
//
//	go test -run '^$' -bench CheckAllStreams -benchtime 5x ./factory
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
	cache := b.TempDir()
	opts := []factory.Option{factory.WithCacheDir(cache), factory.WithHTTPClient(http.DefaultClient)}
	run := func(b *testing.B, wantStale int, fresh bool) {
		r0, u0, _ := srv.counts()
		for b.Loop() {
			if fresh {
				b.StopTimer()
				if err := os.RemoveAll(cache); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			stale, err := factory.Check(ctx, store, ss, opts...)
			if err != nil {
				b.Fatal(err)
			}
			if len(stale) != wantStale {
				b.Fatalf("%d stale, want %d", len(stale), wantStale)
			}
		}
		r1, u1, pk := srv.counts()
		b.ReportMetric(float64(len(ss)), "streams")
		b.ReportMetric(float64(r1-r0)/float64(b.N), "requests/op")
		b.ReportMetric(float64(u1-u0)/float64(b.N), "304s/op")
		if pk != 0 {
			b.Fatalf("%d package downloads", pk)
		}
	}
	b.Run("new", func(b *testing.B) { run(b, len(ss), false) })
	publishLocks(b, store, ss, vm.Version{Epoch: 1763856000})
	b.Run("unchanged", func(b *testing.B) { run(b, 0, false) })
	for _, a := range vm.Arches() { // release 2 upgrades packages every stream installs
		if _, err := hardvmtest.WriteDemoRepository(filepath.Join(dir, "demo"), a, 2); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("changed", func(b *testing.B) { run(b, len(ss), true) })
}

// BenchmarkThroughput measures build throughput with 1, 2 and 3 workers
// in this process on an embedded NATS server: 12 jobs (the test streams,
// as qcow2 disks; Nutanix for AWS, whose disks are whole GiBs) built for
// real (hardvm.Release: erofs, dm-verity, GPT, signed attestations,
// verified) and published to a local catalog. Reported: images/min, from
// the first job taken to the last acknowledged.
//
//	go test -run '^$' -bench Throughput -benchtime 1x ./factory
func BenchmarkThroughput(b *testing.B) {
	r := newRepos(b)
	ss := specs(r.demo, r.extras)
	for i := range ss {
		if ss[i].Platform == vm.AWS {
			ss[i].Platform = vm.Nutanix
		}
		ss[i].Formats = []vm.DiskFormat{vm.FormatQCOW2}
	}
	for _, workers := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var images int
			var busy time.Duration
			for b.Loop() {
				b.StopTimer()
				ctx := context.Background()
				dir := b.TempDir()
				srv, err := factory.StartServer(filepath.Join(dir, "nats"), "")
				if err != nil {
					b.Fatal(err)
				}
				nc, err := factory.Connect(srv, "bench")
				if err != nil {
					b.Fatal(err)
				}
				q, err := factory.OpenQueue(ctx, nc)
				if err != nil {
					b.Fatal(err)
				}
				store, err := local.Open(filepath.Join(dir, "catalog"))
				if err != nil {
					b.Fatal(err)
				}
				f, err := factory.NewFactory(q, store, ss)
				if err != nil {
					b.Fatal(err)
				}
				if _, n, err := f.Poll(ctx); err != nil || n != len(ss) {
					b.Fatalf("poll: %d jobs, %v", n, err)
				}
				b.StartTimer()
				start := time.Now()
				var last atomic.Int64
				var done atomic.Int64
				g, gctx := errgroup.WithContext(ctx)
				for i := range workers {
					w, err := factory.NewWorker(q, store, factory.ReleaseFunc(filepath.Join(dir, "out"), hardvm.WithStore(store), hardvm.PublishNotBootableUnsafe()),
						[]factory.Option{factory.WithID(fmt.Sprintf("w%d", i))})
					if err != nil {
						b.Fatal(err)
					}
					g.Go(func() error {
						for done.Load() < int64(len(ss)) {
							res, err := w.RunOnce(gctx, 200*time.Millisecond)
							if errors.Is(err, jetstream.ErrNoMessages) {
								continue
							}
							if err != nil {
								return err
							}
							if res == nil || res.Outcome != factory.Published {
								return fmt.Errorf("result %+v", res)
							}
							done.Add(1)
							last.Store(int64(time.Since(start)))
						}
						return nil
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				images += len(ss)
				busy += time.Duration(last.Load())
				nc.Close()
				srv.Shutdown()
				srv.WaitForShutdown()
				b.StartTimer()
			}
			b.ReportMetric(float64(images)/busy.Minutes(), "images/min")
		})
	}
}
