package nutanix

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// FuzzCheckArtifact feeds arbitrary files to the qcow2 check: it must never
// panic, and what it accepts has a qcow2 header without a backing file and
// a virtual size Nutanix takes.
func FuzzCheckArtifact(f *testing.F) {
	h := make([]byte, 512)
	copy(h, "QFI\xfb")
	binary.BigEndian.PutUint32(h[4:8], 3)
	binary.BigEndian.PutUint64(h[24:32], 8<<20)
	f.Add(h)
	f.Add(h[:31])
	backed := append([]byte(nil), h...)
	binary.BigEndian.PutUint64(backed[8:16], 512)
	f.Add(backed)
	f.Add([]byte("not a qcow2"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.qcow2")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		size, err := CheckArtifact(artifact.Artifact{Format: vm.FormatQCOW2, Path: p, Digest: digest.FromBytes(b)})
		if err != nil {
			return
		}
		if len(b) < 32 || string(b[:4]) != "QFI\xfb" || binary.BigEndian.Uint64(b[8:16]) != 0 || size <= 0 || size%(1<<20) != 0 {
			t.Fatalf("accepted %x as a qcow2 of %d bytes", b[:min(len(b), 32)], size)
		}
	})
}
