package nutanix_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog/nutanix"
	"github.com/hardvm/hardvm/vm"
)

// Images are named for their build and described with their Ref and
// digest; artifacts are checked before any upload.
func Example() {
	ref, _ := vm.ParseRef("base/nutanix/x86_64/lts:20261123.104501.0")
	fmt.Println(nutanix.ImageName(ref))
	fmt.Println(nutanix.Description(ref, "sha256:"+fmt.Sprintf("%064x", 9))[:74])

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "disk.raw")
	os.WriteFile(p, make([]byte, 1<<20+512), 0o644)
	_, err := nutanix.CheckArtifact(artifact.Artifact{Format: vm.FormatRaw, Path: p})
	fmt.Println(errors.Is(err, nutanix.ErrArtifact))
	// Output:
	// hardvm-base-x86_64-lts-20261123.104501.0
	// hardvm-ref=base/nutanix/x86_64/lts:20261123.104501.0 hardvm-digest=sha256:
	// true
}
