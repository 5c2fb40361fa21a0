package azure

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// FooterSize is the size of a VHD footer, the last 512 bytes of the file.
const FooterSize = 512

// Footer is what the registrar reads from a VHD footer.
type Footer struct {
	DiskType    uint32 // 2 fixed, 3 dynamic, 4 differencing
	CurrentSize int64  // the virtual size of the disk
	DataOffset  uint64 // all ones for a fixed disk
}

// The VHD disk types (Virtual Hard Disk Image Format Specification,
// "Hard Disk Footer Format").
const (
	diskFixed        = 2
	diskDynamic      = 3
	diskDifferencing = 4
)

// ParseFooter parses and checks a 512-byte VHD footer: the cookie
// "conectix", the file format version 1.0 and the checksum (the one's
// complement of the sum of the other bytes).
func ParseFooter(b []byte) (Footer, error) {
	if len(b) != FooterSize {
		return Footer{}, fmt.Errorf("footer of %d bytes, want %d", len(b), FooterSize)
	}
	if !bytes.Equal(b[0:8], []byte("conectix")) {
		return Footer{}, fmt.Errorf("no VHD footer: cookie %q, want \"conectix\"", b[0:8])
	}
	if v := binary.BigEndian.Uint32(b[12:16]); v != 0x00010000 {
		return Footer{}, fmt.Errorf("VHD file format version %#08x, want 0x00010000", v)
	}
	var sum uint32
	for i, c := range b {
		if i < 64 || i >= 68 {
			sum += uint32(c)
		}
	}
	if want, got := ^sum, binary.BigEndian.Uint32(b[64:68]); got != want {
		return Footer{}, fmt.Errorf("VHD footer checksum %#08x, want %#08x", got, want)
	}
	cur := binary.BigEndian.Uint64(b[48:56])
	if cur > 1<<62 {
		return Footer{}, fmt.Errorf("VHD current size %d out of range", cur)
	}
	return Footer{
		DiskType:    binary.BigEndian.Uint32(b[60:64]),
		CurrentSize: int64(cur),
		DataOffset:  binary.BigEndian.Uint64(b[16:24]),
	}, nil
}

// checkVHD reads the footer of the VHD src and checks it against Azure's
// rules: a fixed disk whose data is exactly the rest of the file, of a
// virtual size the platform accepts. It returns the virtual size.
func checkVHD(src *catalog.ArtifactFile) (int64, error) {
	size := src.Size()
	if size < FooterSize || size%512 != 0 {
		return 0, src.Reject("azure-vhd-fixed", fmt.Errorf("file size %d is not a whole number of 512-byte sectors with a footer", size))
	}
	b := make([]byte, FooterSize)
	if _, err := src.ReadAt(b, size-FooterSize); err != nil {
		return 0, fmt.Errorf("azure: read the VHD footer of %s: %w", src.Artifact().Path, err)
	}
	ft, err := ParseFooter(b)
	if err != nil {
		return 0, src.Reject("azure-vhd-fixed", err)
	}
	switch ft.DiskType {
	case diskFixed:
	case diskDynamic, diskDifferencing:
		return 0, src.Reject("azure-vhd-fixed", fmt.Errorf("disk type %d (dynamic or differencing), Azure needs a fixed VHD (type 2)", ft.DiskType))
	default:
		return 0, src.Reject("azure-vhd-fixed", fmt.Errorf("unknown disk type %d, want 2 (fixed)", ft.DiskType))
	}
	if ft.DataOffset != ^uint64(0) {
		return 0, src.Reject("azure-vhd-fixed", fmt.Errorf("data offset %#x, a fixed disk has 0xffffffffffffffff", ft.DataOffset))
	}
	if ft.CurrentSize != size-FooterSize {
		return 0, src.Reject("azure-vhd-fixed", fmt.Errorf("footer says %d bytes of disk, the file holds %d", ft.CurrentSize, size-FooterSize))
	}
	p, err := vm.LookupPlatform(vm.Azure)
	if err != nil {
		return 0, err
	}
	if err := p.CheckSize(ft.CurrentSize); err != nil {
		return 0, src.Reject("azure-size", err)
	}
	return ft.CurrentSize, nil
}

// check checks the artifact of src before anything is uploaded: Azure
// accepts its format and the file is a fixed VHD with a valid footer, of
// a virtual size that is a multiple of 1 MiB.
func check(src *catalog.ArtifactFile) error {
	p, err := vm.LookupPlatform(vm.Azure)
	if err != nil {
		return err
	}
	if f := src.Artifact().Format; !p.Accepts(f) {
		return src.Reject(catalog.RuleFormat, fmt.Errorf("format %s, Azure accepts %v", f, p.Formats))
	}
	_, err = checkVHD(src)
	return err
}

// CheckArtifact checks a before anything is uploaded: it has a sha256
// digest, Azure accepts its format, the file is of a's size and a fixed
// VHD with a valid footer, and its virtual size is a multiple of 1 MiB.
// Errors are *catalog.ArtifactError (catalog.ErrRejected) when the
// artifact breaks a rule; the rule is "azure-vhd-fixed", "azure-size" or
// one of catalog's.
func CheckArtifact(a artifact.Artifact) error {
	src, err := catalog.OpenArtifact(a, string(vm.Azure), nil)
	if err != nil {
		return err
	}
	defer src.Close()
	return check(src)
}
