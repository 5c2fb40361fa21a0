package hardvm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/internal/demorepo"
	"github.com/hardvm/hardvm/vm"
)

// Release builds, signs, verifies and publishes an image in one call. Here
// the repository is hardvm's offline demo repository; in a program it is a
// spec file's (vm.LoadSpec) Wolfi or Chainguard OS repository.
func ExampleRelease() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "hardvm-example")
	defer os.RemoveAll(dir)
	repo, _ := demorepo.Write(filepath.Join(dir, "repo"), vm.X86_64, 1)

	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1763856000,
		Repositories: []vm.Repository{repo}, Formats: []vm.DiskFormat{vm.FormatQCOW2}, Size: 256 << 20}
	store, err := local.Open(filepath.Join(dir, "catalog"))
	if err != nil {
		fmt.Println(err)
		return
	}
	entry, err := hardvm.Release(ctx, spec, hardvm.WithOutputDir(filepath.Join(dir, "out")), hardvm.WithStore(store))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(entry.Ref.Stream(), entry.Ref.Version, len(entry.Packages), "packages")
	for _, a := range entry.Artifacts {
		fmt.Println(a.Format, a.Name)
	}
	// Output:
	// base/qemu/x86_64/stable 20251123.000000.0 8 packages
	// raw disk.raw
	// qcow2 disk.qcow2
}
