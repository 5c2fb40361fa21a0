package nutanix_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/nutanix"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// Images are named for their build and described with their Ref and
// digest; artifacts are checked before any upload.
func Example() {
	ref, _ := vm.ParseRef("base/nutanix/x86_64/lts:20261123.104501.0")
	fmt.Println(nutanix.ImageName(ref))
	fmt.Println(nutanix.Description(ref, digest.NewDigestFromEncoded(digest.SHA256, fmt.Sprintf("%064x", 9)))[:74])

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "disk.raw")
	b := make([]byte, 1<<20+512)
	os.WriteFile(p, b, 0o644)
	_, err := nutanix.CheckArtifact(artifact.Artifact{Format: vm.FormatRaw, Path: p, Digest: digest.FromBytes(b)})
	var ae *catalog.ArtifactError
	fmt.Println(errors.Is(err, catalog.ErrRejected), errors.As(err, &ae), ae.Rule)
	// Output:
	// hardvm-base-x86_64-lts-20261123.104501.0
	// hardvm-ref=base/nutanix/x86_64/lts:20261123.104501.0 hardvm-digest=sha256:
	// true true nutanix-image
}
