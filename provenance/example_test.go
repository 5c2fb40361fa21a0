package provenance_test

import (
	"fmt"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// An SBOM and SLSA provenance for a one-package image with one raw disk.
func Example() {
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1795000000}
	lock := &artifact.Lock{
		Spec: spec, Arch: vm.X86_64, Family: vm.Wolfi,
		Packages: []artifact.Package{{
			Name: "busybox", Version: "1.37.0-r3", Arch: "x86_64", License: "GPL-2.0-only",
			SHA256: "sha256:0000000000000000000000000000000000000000000000000000000000000001",
		}},
	}
	disk := artifact.Artifact{
		Ref: spec.Ref(), Format: vm.FormatRaw, Path: "out/disk.raw",
		Digest: "sha256:00000000000000000000000000000000000000000000000000000000000000aa",
	}
	doc, err := provenance.SBOM(lock, []artifact.Artifact{disk})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := provenance.SLSA(lock, []artifact.Artifact{disk})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(doc.CreationInfo.Created, len(doc.Packages), "packages")
	fmt.Println(provenance.Purl(vm.Wolfi, lock.Packages[0]))
	fmt.Println(st.GetPredicateType(), st.GetSubject()[0].GetName())
	// Output:
	// 2026-11-18T11:06:40Z 4 packages
	// pkg:apk/wolfi/busybox@1.37.0-r3?arch=x86_64
	// https://slsa.dev/provenance/v1 disk.raw
}
