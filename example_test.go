package hardvm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// Release builds, signs, verifies and publishes an image in one call. Here
// the repository is hardvm's offline demo repository; in a program it is a
// spec file's (vm.LoadSpec) Wolfi or Chainguard OS repository.
func ExampleRelease() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "hardvm-example")
	defer os.RemoveAll(dir)
	repo, _ := hardvmtest.WriteDemoRepository(filepath.Join(dir, "repo"), vm.X86_64, 1)
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1763856000,
		Repositories: []vm.Repository{repo}, Formats: []vm.DiskFormat{vm.FormatQCOW2}, Size: 256 << 20}
	store, err := local.Open(filepath.Join(dir, "catalog"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The demo repository's kernel is a stand-in: the image does not boot,
	// and Release publishes it only when told so.
	entry, err := hardvm.Release(ctx, spec, hardvm.WithOutputDir(filepath.Join(dir, "out")), hardvm.WithStore(store),
		hardvm.PublishNotBootableUnsafe())
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

// Build now, publish later, elsewhere: Build writes a directory that holds
// everything Publish needs; Publish verifies a copy of it with the key the
// caller trusts (never the key.pub inside it) and takes the image's
// identity from the signed provenance.
func ExamplePublish() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "hardvm-example")
	defer os.RemoveAll(dir)
	repo, _ := hardvmtest.WriteDemoRepository(filepath.Join(dir, "repo"), vm.X86_64, 1)
	spec := vm.Spec{Variant: "base", Platform: vm.AWS, Arch: vm.X86_64, SourceDateEpoch: 1763856000, Build: 4,
		Repositories: []vm.Repository{repo}, Size: 256 << 20}

	// On the build machine: a key the publishing side trusts.
	key, _ := provenance.GenerateKey()
	signer, _ := provenance.NewSigner(provenance.WithKey(key))
	out, err := hardvm.Build(ctx, spec, hardvm.WithOutputDir(filepath.Join(dir, "build")), hardvm.WithSigner(signer))
	if err != nil {
		fmt.Println(err)
		return
	}

	// On the publishing machine, from the directory (copied there) alone.
	trusted, _ := provenance.TrustKeys(key.Public())
	store, _ := local.Open(filepath.Join(dir, "catalog"))
	entry, err := hardvm.Publish(ctx, out.Dir, hardvm.WithStore(store), hardvm.WithTrustedMaterial(trusted),
		hardvm.PublishNotBootableUnsafe()) // the demo repository's kernel is a stand-in
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(entry.Ref.Stream(), entry.Ref.Version, entry.Ref.Digest == out.Artifacts[0].Digest)
	// Output: base/aws/x86_64/stable 20251123.000000.4 true
}

// One spec for several platforms in one call: BuildPlatforms builds each
// platform's image (its formats, or the platform's default) into a
// directory of its own, as many at once as WithParallelism says, and
// returns them in the order asked for; the same spec gives the same disks
// however many builds run at once.
func ExampleBuildPlatforms() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "hardvm-example")
	defer os.RemoveAll(dir)
	repo, _ := hardvmtest.WriteDemoRepository(filepath.Join(dir, "repo"), vm.X86_64, 1)
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1763856000,
		Repositories: []vm.Repository{repo}, Size: 256 << 20}
	outs, err := hardvm.BuildPlatforms(ctx, spec, []vm.Cloud{vm.QEMU, vm.Azure},
		hardvm.WithOutputDir(filepath.Join(dir, "out")), hardvm.WithParallelism(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, out := range outs {
		rel, _ := filepath.Rel(dir, out.Dir)
		fmt.Println(out.Entry.Ref.Stream(), rel, out.Artifacts[len(out.Artifacts)-1].Name())
	}
	// Output:
	// base/qemu/x86_64/stable out/qemu disk.qcow2
	// base/azure/x86_64/stable out/azure disk.vhd
}
