package catalog_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
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

// BenchmarkArtifactFileChunks is the registrars' read path alone: a 1 GiB
// sparse disk whose first MiB of every 8 MiB holds data, sent in 512 KiB
// chunks (EBS blocks) to 4 workers that do nothing. It reads the 128 MiB
// of data and hashes all of the disk (holes as zeros): the cost is the
// SHA-256 of 1 GiB.
func BenchmarkArtifactFileChunks(b *testing.B) {
	p, _ := catalogtest.SparseDisk(b, 1<<30, 8<<20)
	a := benchArtifact(b, p)
	f, err := catalog.OpenArtifact(a, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for b.Loop() {
		if err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: 512 << 10, Workers: 4, Sparse: true}, func(context.Context, int64, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkArtifactFileReader streams 256 MiB of data through Reader, as
// an HTTP upload does.
func BenchmarkArtifactFileReader(b *testing.B) {
	p, _ := catalogtest.SparseDisk(b, 256<<20, 1<<20)
	a := benchArtifact(b, p)
	f, err := catalog.OpenArtifact(a, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for b.Loop() {
		if _, err := io.Copy(io.Discard, f.Reader()); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// BenchmarkSHA256 is the floor of both: hashing 1 MiB buffers.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 1<<20)
	h := sha256.New()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		h.Write(buf)
	}
}

func benchArtifact(b *testing.B, p string) artifact.Artifact {
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	d, err := digest.SHA256.FromReader(f)
	if err != nil {
		b.Fatal(err)
	}
	fi, _ := f.Stat()
	return artifact.Artifact{Format: vm.FormatRaw, Path: p, Size: fi.Size(), Digest: d}
}
