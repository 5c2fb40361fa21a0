package nutanix

import (
	"context"
	"testing"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
)

// BenchmarkRegister uploads the qcow2 of a 256 MiB disk (data at both
// ends, holes elsewhere) to the fake, and reports the bytes sent against
// the disk's size: the qcow2 stores no holes, so they are never sent.
func BenchmarkRegister(b *testing.B) {
	const size = 256 << 20
	a, _ := qcow2Artifact(b, size)
	fake := newFakePrism(b)
	r, err := New(Config{Endpoint: fake.srv.URL, Username: fakeUser, Password: fakePassword}, WithPollInterval(1))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for i := 0; b.Loop(); i++ {
		loc, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Nutanix, a, i+1))
		if err != nil {
			b.Fatal(err)
		}
		r.Deregister(context.Background(), loc)
	}
	stop()
	b.ReportMetric(float64(a.Size)/(1<<20), "MiB-sent/op")
	b.ReportMetric(float64(size-a.Size)/(1<<20), "MiB-not-sent/op")
}

// BenchmarkRegisterRaw uploads a raw 256 MiB disk whose first MiB of every
// 2 MiB holds random data: every byte of it is streamed, hashed and
// checked by the fake.
func BenchmarkRegisterRaw(b *testing.B) {
	p, _ := catalogtest.SparseDisk(b, 256<<20, 2<<20)
	a := artifactOf(b, p, vm.FormatRaw)
	fake := newFakePrism(b)
	r, err := New(Config{Endpoint: fake.srv.URL, Username: fakeUser, Password: fakePassword}, WithPollInterval(1))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(a.Size)
	stop := catalogtest.ReportCPU(b)
	for i := 0; b.Loop(); i++ {
		loc, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Nutanix, a, i+1))
		if err != nil {
			b.Fatal(err)
		}
		r.Deregister(context.Background(), loc)
	}
	stop()
}
