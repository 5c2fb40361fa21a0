package vsphere

import (
	"context"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
)

// BenchmarkRegister imports an OVA of a 256 MiB disk with data at three
// places (holes elsewhere) into vcsim, and reports the bytes sent (the
// streamOptimized VMDK) against the disk's virtual size: the holes are
// never sent.
func BenchmarkRegister(b *testing.B) {
	const size = 256 << 20
	a, _ := testOVA(b, size)
	pkg, err := CheckArtifact(a)
	if err != nil {
		b.Fatal(err)
	}
	m := simulator.VPX()
	defer m.Remove()
	err = m.Run(func(ctx context.Context, c *vim25.Client) error {
		r, err := New(simConfig(c))
		if err != nil {
			return err
		}
		b.SetBytes(pkg.DiskSize)
		stop := catalogtest.ReportCPU(b)
		defer stop()
		for i := 0; b.Loop(); i++ {
			e := catalogtest.EntryFor(vm.VMware, a, i+1)
			loc, err := r.Register(ctx, a, e)
			if err != nil {
				return err
			}
			if err := r.Deregister(ctx, loc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(pkg.DiskSize)/(1<<20), "MiB-sent/op")
	b.ReportMetric(float64(pkg.Capacity-pkg.DiskSize)/(1<<20), "MiB-not-sent/op")
}
