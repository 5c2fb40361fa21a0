package vsphere

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/vmware/govmomi/ovf"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// maxDescriptor bounds the OVF descriptor read into memory.
const maxDescriptor = 1 << 20

// Package is what CheckArtifact found in an OVA.
type Package struct {
	Descriptor string // name of the .ovf member
	Disk       string // name of the .vmdk member
	DiskSize   int64  // bytes of the VMDK in the OVA
	Capacity   int64  // virtual size of the disk
	Firmware   string // the descriptor's vmw:Config firmware, "efi" for hardvm images
}

// The VMDK sparse extent header (VMware Virtual Disk Format 1.1, "Hosted
// Sparse Extent Header"): magic "KDMV", version, flags, capacity in
// sectors, ..., compressAlgorithm at offset 77.
const (
	vmdkMagic          = "KDMV"
	flagCompressed     = 1 << 16
	flagMarkers        = 1 << 17
	compressionDeflate = 1
)

// CheckArtifact checks a before anything is uploaded: a sha256 digest, a
// file of a's size, and an OVA whose first member is an OVF descriptor
// asking for EFI firmware and whose second is a streamOptimized VMDK
// (compressed grains with markers) the descriptor references. Errors are
// *catalog.ArtifactError (catalog.ErrRejected) when the artifact breaks a
// rule; the rule is "vmware-vmdk", "vmware-efi" or one of catalog's.
func CheckArtifact(a artifact.Artifact) (Package, error) {
	src, err := catalog.OpenArtifact(a, string(vm.VMware), nil)
	if err != nil {
		return Package{}, err
	}
	defer src.Close()
	return check(src)
}

// check is CheckArtifact of an opened artifact. It reads the descriptor
// (bounded) and the VMDK header only.
func check(src *catalog.ArtifactFile) (Package, error) {
	bad := func(rule string, err error) (Package, error) { return Package{}, src.Reject(rule, err) }
	p, err := vm.LookupPlatform(vm.VMware)
	if err != nil {
		return Package{}, err
	}
	if f := src.Artifact().Format; !p.Accepts(f) || f != vm.FormatOVA {
		return bad(catalog.RuleFormat, fmt.Errorf("format %s, the registrar takes an OVA", f))
	}
	tr := tar.NewReader(io.NewSectionReader(src, 0, src.Size()))
	h, err := tr.Next()
	if err != nil {
		return bad("vmware-vmdk", fmt.Errorf("not a tar archive: %w", err))
	}
	if path.Ext(h.Name) != ".ovf" {
		return bad("vmware-vmdk", fmt.Errorf("first member %q, an OVA starts with its .ovf descriptor", h.Name))
	}
	desc, err := readDescriptor(tr, h)
	if err != nil {
		return bad("vmware-vmdk", err)
	}
	env, err := ovf.Unmarshal(bytes.NewReader(desc))
	if err != nil {
		return bad("vmware-vmdk", fmt.Errorf("%s: %w", h.Name, err))
	}
	pkg := Package{Descriptor: h.Name, Firmware: firmware(env)}
	if pkg.Firmware != "efi" {
		return bad("vmware-efi", fmt.Errorf("%s asks for firmware %q, hardvm images boot with efi", h.Name, pkg.Firmware))
	}
	if env.Disk == nil || len(env.Disk.Disks) != 1 || len(env.References) != 1 {
		return bad("vmware-vmdk", fmt.Errorf("%s: want one disk and one file reference", h.Name))
	}
	d := env.Disk.Disks[0]
	if d.Format == nil || !strings.HasSuffix(*d.Format, "#streamOptimized") {
		return bad("vmware-vmdk", fmt.Errorf("%s: disk format is not streamOptimized", h.Name))
	}
	h, err = tr.Next()
	if err != nil {
		return bad("vmware-vmdk", fmt.Errorf("no disk after the descriptor: %w", err))
	}
	if h.Name != env.References[0].Href {
		return bad("vmware-vmdk", fmt.Errorf("second member %q, the descriptor references %q", h.Name, env.References[0].Href))
	}
	var hdr [512]byte
	if _, err := io.ReadFull(tr, hdr[:]); err != nil {
		return bad("vmware-vmdk", fmt.Errorf("%s: %w", h.Name, err))
	}
	flags := binary.LittleEndian.Uint32(hdr[8:12])
	switch {
	case string(hdr[0:4]) != vmdkMagic:
		return bad("vmware-vmdk", fmt.Errorf("%s: magic %q, want %q", h.Name, hdr[0:4], vmdkMagic))
	case flags&flagCompressed == 0 || flags&flagMarkers == 0 || binary.LittleEndian.Uint16(hdr[77:79]) != compressionDeflate:
		return bad("vmware-vmdk", fmt.Errorf("%s: flags %#x, compression %d: not streamOptimized", h.Name, flags, binary.LittleEndian.Uint16(hdr[77:79])))
	}
	pkg.Disk, pkg.DiskSize = h.Name, h.Size
	pkg.Capacity = int64(binary.LittleEndian.Uint64(hdr[12:20])) * 512
	if err := p.CheckSize(pkg.Capacity); err != nil {
		return bad("vmware-vmdk", err)
	}
	return pkg, nil
}

func readDescriptor(tr *tar.Reader, h *tar.Header) ([]byte, error) {
	if h.Size > maxDescriptor {
		return nil, fmt.Errorf("descriptor %s of %d bytes, more than %d", h.Name, h.Size, maxDescriptor)
	}
	b, err := io.ReadAll(io.LimitReader(tr, maxDescriptor))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h.Name, err)
	}
	return b, nil
}

// firmware returns the vmw:Config firmware value of the descriptor's
// virtual hardware, "" if none.
func firmware(env *ovf.Envelope) string {
	if env.VirtualSystem == nil {
		return ""
	}
	for _, hw := range env.VirtualSystem.VirtualHardware {
		for _, c := range hw.Config {
			if c.Key == "firmware" {
				return c.Value
			}
		}
	}
	return ""
}
