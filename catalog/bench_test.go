package catalog_test

import (
	"fmt"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
)

// benchIndex builds an index of n entries spread over every stream of the
// variant table (a few hundred streams), as a catalog after years of
// continuous builds.
func benchIndex(b *testing.B, n int) (*catalog.Index, []string) {
	b.Helper()
	var streams []string
	for _, v := range vm.Variants() {
		for _, p := range v.Platforms {
			for _, a := range vm.Arches() {
				for _, k := range vm.KernelTracks() {
					for _, fips := range []string{"", "+fips"} {
						streams = append(streams, fmt.Sprintf("%s%s/%s/%s/%s", v.Name, fips, p, a, k))
					}
				}
			}
		}
	}
	x := catalog.NewIndex()
	for i := range n {
		e := catalogtest.NewEntry(streams[i%len(streams)], i/len(streams), 0)
		if i%3 == 0 {
			e.Locations = []catalog.Location{{Target: e.Ref.Platform, Region: fmt.Sprint("region-", i%7), ID: "x"}}
		}
		x.Put(catalog.Item{Summary: e.Summary(), Key: e.Ref.Digest.String()})
	}
	return x, streams
}

// BenchmarkIndexLatest is the figure: Latest of one stream in a
// catalog of 100,000 entries (goal: well under a millisecond).
func BenchmarkIndexLatest(b *testing.B) {
	x, streams := benchIndex(b, 100_000)
	qs := make([]catalog.Query, len(streams))
	for i, s := range streams {
		qs[i] = catalog.StreamQuery(catalogtest.NewEntry(s, 0, 0).Ref)
		qs[i].Region = fmt.Sprint("region-", i%7)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := x.Latest(qs[i%len(qs)]); !ok {
			b.Fatal("no latest")
		}
	}
}

// BenchmarkIndexLatestAny is Latest across every stream of a variant.
func BenchmarkIndexLatestAny(b *testing.B) {
	x, _ := benchIndex(b, 100_000)
	for b.Loop() {
		if _, ok := x.Latest(catalog.Query{Variant: "base"}); !ok {
			b.Fatal("no latest")
		}
	}
}

// BenchmarkIndexFind is a Find over one variant and platform.
func BenchmarkIndexFind(b *testing.B) {
	x, _ := benchIndex(b, 100_000)
	for b.Loop() {
		if len(x.Find(catalog.Query{Variant: "nginx", Platform: vm.GCP})) == 0 {
			b.Fatal("none")
		}
	}
}
