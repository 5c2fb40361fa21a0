package gcp

import (
	"context"
	"testing"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
)

// BenchmarkRegister registers the GCE artifact of a 1 GiB disk with
// 64 MiB of random data (so about 64 MiB of tar.gz) through
// fake-gcs-server (a real Cloud Storage server) and the Compute fake, and
// deregisters it.
func BenchmarkRegister(b *testing.B) {
	ctx := context.Background()
	gcs, gcsURL := startFakeGCS(b)
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		b.Fatal(err)
	}
	fake := newFakeCompute(b, func(bk, o string) bool {
		_, err := gcs.Bucket(bk).Object(o).Attrs(ctx)
		return err == nil
	})
	r := newTestRegistrar(b, "images", gcsURL, fake.srv.URL)
	raw, _ := catalogtest.SparseDisk(b, 1<<30, 16<<20)
	a := gceOf(b, raw)
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for i := 0; b.Loop(); i++ {
		loc, err := r.Register(ctx, a, catalogtest.EntryFor(vm.GCP, a, i+1))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Deregister(ctx, loc); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}
