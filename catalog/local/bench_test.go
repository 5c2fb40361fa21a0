package local

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/vm"
)

// BenchmarkStoreLatest is Latest of one stream on a directory catalog of
// 100,000 entries (a few hundred streams), index already loaded: the cost
// is the index lookup plus reading and checking one entry file.
func BenchmarkStoreLatest(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var streams []string
	for _, v := range vm.Variants() {
		for _, p := range v.Platforms {
			for _, a := range vm.Arches() {
				for _, k := range vm.KernelTracks() {
					streams = append(streams, fmt.Sprintf("%s/%s/%s/%s", v.Name, p, a, k), fmt.Sprintf("%s+fips/%s/%s/%s", v.Name, p, a, k))
				}
			}
		}
	}
	// Write the entry files of each stream's newest build only (the others
	// are never read), and the index of all 100,000 directly.
	const n = 100_000
	x := catalog.NewIndex()
	for i := range n {
		st, build := streams[i%len(streams)], i/len(streams)
		e := catalogtest.NewEntry(st, build, 50)
		key := catalogtest.Digest("not read").String()
		if i+len(streams) >= n {
			if err := s.write(e, nil); err != nil {
				b.Fatal(err)
			}
			it, _ := s.idx.Get(e.Ref)
			key = it.Key
		}
		x.Put(catalog.Item{Summary: e.Summary(), Key: key})
	}
	if err := atomicfile.WriteFile(s.indexPath(), 0o644, func(w io.Writer) error { return writeIndex(w, x) }); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(s.indexPath())
	b.ReportMetric(float64(fi.Size())/n, "index-bytes/entry")
	ctx := context.Background()
	if l, err := s.Len(); err != nil || l != n {
		b.Fatalf("catalog of %d entries, %v", l, err)
	}
	qs := make([]catalog.Query, len(streams))
	for i, st := range streams {
		qs[i] = catalog.StreamQuery(catalogtest.NewEntry(st, 0, 0).Ref)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Latest(ctx, qs[i%len(qs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreLoad is reading a 10,000-entry index cold.
func BenchmarkStoreLoad(b *testing.B) {
	dir := b.TempDir()
	x := catalog.NewIndex()
	for i := range 10_000 {
		e := catalogtest.NewEntry("base/aws/x86_64/stable", i, 0)
		x.Put(catalog.Item{Summary: e.Summary(), Key: e.Ref.Digest.String()})
	}
	s, _ := Open(dir)
	if err := atomicfile.WriteFile(s.indexPath(), 0o644, func(w io.Writer) error { return writeIndex(w, x) }); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f, _ := os.Open(s.indexPath())
		if _, err := readIndex(f, "index"); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkRegister copies the raw disk of a 1 GiB sparse disk whose first
// MiB of every 8 MiB holds random data into the registrar's directory
// (checking its digest, keeping its holes), then deregisters it.
func BenchmarkRegister(b *testing.B) {
	p, _ := catalogtest.SparseDisk(b, 1<<30, 8<<20)
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	a := artifact.Artifact{Format: vm.FormatRaw, Path: p, Size: n, VirtualSize: n, Digest: digest.NewDigest(digest.SHA256, h)}
	r, err := NewRegistrar(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for i := 0; b.Loop(); i++ {
		loc, err := r.Register(ctx, a, catalogtest.EntryFor(vm.QEMU, a, i+1))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Deregister(ctx, loc); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}
