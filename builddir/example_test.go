package builddir_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// A build writes its disks and signs them into a directory; another
// machine opens a copy of the directory with the build's public key and
// gets the build as the signed statements state it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "builddir-example")
	defer os.RemoveAll(dir)

	// The build: a (stand-in) raw disk and its lock.
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1763856000,
		Repositories: []vm.Repository{{URL: "https://packages.example.test/os", Keys: []string{"wolfi.rsa.pub"}, Family: vm.Wolfi}}}
	lock := &artifact.Lock{Spec: spec, Arch: vm.X86_64, Family: vm.Wolfi, World: []string{"busybox"},
		Packages: []artifact.Package{{Name: "busybox", Version: "1.37.0-r3", Arch: "x86_64"}}}
	raw := filepath.Join(dir, builddir.DiskFile(vm.FormatRaw))
	os.WriteFile(raw, []byte("a raw disk"), 0o644)
	d, _ := provenance.FileDigest(raw)
	ref := spec.Ref()
	ref.Digest = d
	signer, _ := provenance.NewSigner()
	err := builddir.Write(ctx, dir, builddir.Contents{Lock: lock, Kernel: "6.12.8-0-virt",
		Artifacts: []artifact.Artifact{{Ref: ref, Format: vm.FormatRaw, Path: raw, Size: 10, VirtualSize: 10, Digest: d}}}, signer)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Elsewhere, later: the key comes from the caller, not the directory.
	trusted, _ := provenance.TrustKeys(signer.PublicKey())
	b, err := builddir.Open(ctx, dir, nil, trusted)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Ref.Stream(), b.Ref.Version, b.Artifacts[0].Name(), "kernel", b.Kernel)
	// Output: base/qemu/x86_64/stable 20251123.000000.0 disk.raw kernel 6.12.8-0-virt
}
