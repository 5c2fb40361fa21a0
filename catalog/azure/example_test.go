package azure_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/azure"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// The registrar refuses an artifact Azure would refuse before it uploads
// anything: here a raw disk of 3 MiB + 4 KiB, then the same disk written
// as a fixed VHD by vdisk (its size rounded up to 4 MiB), which passes.
func ExampleCheckArtifact() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	raw := filepath.Join(dir, "disk.raw")
	b := make([]byte, 3<<20+4096)
	os.WriteFile(raw, b, 0o644)

	err := azure.CheckArtifact(artifact.Artifact{Format: vm.FormatVHD, Path: raw, Digest: digest.FromBytes(b)})
	var ae *catalog.ArtifactError
	fmt.Println(errors.Is(err, catalog.ErrRejected), errors.As(err, &ae), ae.Target, ae.Rule)
	fmt.Println(ae.Err)

	src, _ := vdisk.OpenFile(raw)
	defer src.Close()
	f, _ := os.Create(filepath.Join(dir, "disk.vhd"))
	vdisk.VHD{SourceDateEpoch: 1795392000}.WriteDisk(context.Background(), f, src)
	f.Seek(0, io.SeekStart)
	d, _ := digest.SHA256.FromReader(f)
	f.Close()
	fmt.Println(azure.CheckArtifact(artifact.Artifact{Format: vm.FormatVHD, Path: f.Name(), Digest: d}))
	// Output:
	// true true azure azure-vhd-fixed
	// no VHD footer: cookie "\x00\x00\x00\x00\x00\x00\x00\x00", want "conectix"
	// <nil>
}

// Every image version carries its Ref and digest as tags, so that the
// catalog finds it again.
func ExampleTags() {
	ref, _ := vm.ParseRef("base+fips/azure/x86_64/lts:20261123.104501.0@sha256:" + fmt.Sprintf("%064x", 1))
	t := azure.Tags(ref)
	fmt.Println(azure.ImageName(ref))
	fmt.Println(t[azure.TagStream])
	fmt.Println(t[azure.TagRef])
	// Output:
	// base-fips-x86_64-lts
	// base+fips/azure/x86_64/lts
	// base+fips/azure/x86_64/lts:20261123.104501.0@sha256:0000000000000000000000000000000000000000000000000000000000000001
}
