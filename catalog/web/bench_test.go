package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/web"
	"github.com/hardvm/hardvm/vm"
)

// benchEntries is the figure: a catalog of 100,000 entries, spread
// over every stream of the variant table (as after years of continuous
// builds), each with 40 packages whose versions move between builds.
const benchEntries = 100_000

var (
	benchOnce    sync.Once
	benchStore   catalog.Store
	benchStreams []string
)

func benchCatalog(b *testing.B) (catalog.Store, []string) {
	b.Helper()
	benchOnce.Do(func() {
		for _, v := range vm.Variants() {
			for _, p := range v.Platforms {
				for _, a := range vm.Arches() {
					for _, k := range vm.KernelTracks() {
						for _, fips := range []string{"", "+fips"} {
							benchStreams = append(benchStreams, fmt.Sprintf("%s%s/%s/%s/%s", v.Name, fips, p, a, k))
						}
					}
				}
			}
		}
		benchStore = catalogtest.NewMemStore()
		ctx := context.Background()
		for i := range benchEntries {
			e := catalogtest.NewEntry(benchStreams[i%len(benchStreams)], i/len(benchStreams), 40)
			if i%3 == 0 {
				e.Locations = []catalog.Location{{Target: e.Ref.Platform, Region: fmt.Sprint("region-", i%7), ID: fmt.Sprint("image-", i)}}
			}
			if _, err := benchStore.Put(ctx, e); err != nil {
				panic(err)
			}
		}
	})
	return benchStore, benchStreams
}

// benchHandler returns a handler with the benchmark catalog loaded.
func benchHandler(b *testing.B) *web.Handler {
	b.Helper()
	store, _ := benchCatalog(b)
	h, err := web.New(store, web.WithClock(func() time.Time { return time.Unix(catalogtest.Base+400*86400, 0) }))
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	return h
}

func benchPage(b *testing.B, h http.Handler, path string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body.String())
		}
		n = w.Body.Len()
	}
	b.ReportMetric(float64(n), "page-bytes")
}

// BenchmarkDirectory renders the directory of every stream (432) of a
// 100,000-entry catalog.
func BenchmarkDirectory(b *testing.B) { benchPage(b, benchHandler(b), "/") }

// BenchmarkDirectorySearch renders the directory filtered to the streams
// with a version containing one package version: every entry is looked at.
func BenchmarkDirectorySearch(b *testing.B) {
	benchPage(b, benchHandler(b), "/?package=pkg0007&version=1.7.30")
}

// BenchmarkStream renders one stream's page (231 versions, a page of 50
// with their deltas, three charts) of a 100,000-entry catalog.
func BenchmarkStream(b *testing.B) {
	_, streams := benchCatalog(b)
	r, err := vm.ParseRef(streams[0] + ":20260101.000000.0")
	if err != nil {
		b.Fatal(err)
	}
	benchPage(b, benchHandler(b), "/s/"+r.Variant+"/"+string(r.Platform)+"/"+string(r.Arch)+"/"+string(r.Kernel))
}

// BenchmarkAPIStreams serves the directory as JSON.
func BenchmarkAPIStreams(b *testing.B) { benchPage(b, benchHandler(b), "/api/streams") }

// BenchmarkLoad loads the 100,000 entries from the store into the
// handler's copy, and reports the heap that copy keeps.
func BenchmarkLoad(b *testing.B) {
	store, _ := benchCatalog(b)
	h, err := web.New(store)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h2, _ := web.New(store)
	if err := h2.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
	runtime.KeepAlive(h2)
}
