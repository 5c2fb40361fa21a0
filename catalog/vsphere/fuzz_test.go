package vsphere

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// FuzzCheckArtifact feeds arbitrary files to the OVA check: it must never
// panic, and what it accepts must have a descriptor and a disk.
func FuzzCheckArtifact(f *testing.F) {
	a, _ := testOVA(f, 1<<20)
	b, err := os.ReadFile(a.Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:min(len(b), 16<<10)])
	f.Add(b[:4096])
	f.Add([]byte("not a tar"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.ova")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		pkg, err := CheckArtifact(artifact.Artifact{Format: vm.FormatOVA, Path: p, Digest: digest.FromBytes(b)})
		if err == nil && (pkg.Descriptor == "" || pkg.Disk == "" || pkg.Firmware != "efi") {
			t.Fatalf("accepted %+v", pkg)
		}
	})
}
