package nutanix

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// CheckArtifact checks a before anything is uploaded: a format Nutanix
// takes (qcow2 or raw), a qcow2 with a valid header and no backing file,
// and a virtual size that is a whole MiB. It returns the virtual size.
// Errors are *ArtifactError (ErrArtifact).
func CheckArtifact(a artifact.Artifact) (int64, error) {
	bad := func(err error) (int64, error) {
		return 0, &ArtifactError{Path: a.Path, Rule: "nutanix-image", Err: err}
	}
	p, err := vm.LookupPlatform(vm.Nutanix)
	if err != nil {
		return 0, err
	}
	if !p.Accepts(a.Format) {
		return bad(fmt.Errorf("format %s, Nutanix takes %v", a.Format, p.Formats))
	}
	f, err := os.Open(a.Path)
	if err != nil {
		return 0, fmt.Errorf("nutanix: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("nutanix: %w", err)
	}
	size := fi.Size()
	if a.Format == vm.FormatQCOW2 {
		// QCOW2 header: magic "QFI\xfb", version, backing_file_offset,
		// backing_file_size, cluster_bits, size (big-endian).
		var h [32]byte
		if _, err := f.ReadAt(h[:], 0); err != nil {
			return bad(fmt.Errorf("no qcow2 header: %w", err))
		}
		if string(h[0:4]) != "QFI\xfb" {
			return bad(fmt.Errorf("magic %q, not a qcow2", h[0:4]))
		}
		if v := binary.BigEndian.Uint32(h[4:8]); v != 2 && v != 3 {
			return bad(fmt.Errorf("qcow2 version %d", v))
		}
		if binary.BigEndian.Uint64(h[8:16]) != 0 {
			return bad(fmt.Errorf("qcow2 refers to a backing file"))
		}
		vs := binary.BigEndian.Uint64(h[24:32])
		if vs > 1<<50 {
			return bad(fmt.Errorf("qcow2 virtual size %d out of range", vs))
		}
		size = int64(vs)
	}
	if err := p.CheckSize(size); err != nil {
		return bad(err)
	}
	return size, nil
}
