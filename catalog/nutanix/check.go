package nutanix

import (
	"encoding/binary"
	"fmt"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// CheckArtifact checks a before anything is uploaded: a sha256 digest, a
// file of a's size, a format Nutanix takes (qcow2 or raw), a qcow2 with a
// valid header and no backing file, and a virtual size that is a whole
// MiB. It returns the virtual size. Errors are *catalog.ArtifactError
// (catalog.ErrRejected) when the artifact breaks a rule; the rule is
// "nutanix-image" or one of catalog's.
func CheckArtifact(a artifact.Artifact) (int64, error) {
	src, err := catalog.OpenArtifact(a, string(vm.Nutanix), nil)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	return check(src)
}

// check is CheckArtifact of an opened artifact: it reads the qcow2 header
// only.
func check(src *catalog.ArtifactFile) (int64, error) {
	bad := func(err error) (int64, error) { return 0, src.Reject("nutanix-image", err) }
	p, err := vm.LookupPlatform(vm.Nutanix)
	if err != nil {
		return 0, err
	}
	a := src.Artifact()
	if !p.Accepts(a.Format) {
		return 0, src.Reject(catalog.RuleFormat, fmt.Errorf("format %s, Nutanix takes %v", a.Format, p.Formats))
	}
	size := src.Size()
	if a.Format == vm.FormatQCOW2 {
		// QCOW2 header: magic "QFI\xfb", version, backing_file_offset,
		// backing_file_size, cluster_bits, size (big-endian).
		var h [32]byte
		if _, err := src.ReadAt(h[:], 0); err != nil {
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
