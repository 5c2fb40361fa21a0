package vdisk

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
	"text/template"

	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// OVA writes an OVF package as one tar: the OVF 1.0 descriptor first, then
// the disk as a streamOptimized VMDK, then the manifest with the SHA-256
// (or SHA-1) of both, which is the order vSphere and ovftool read them in.
// The descriptor asks for EFI firmware, a SCSI controller holding the
// disk, CPUs, memory and a vmxnet3 network card.
//
// The tar header of the VMDK states its size, which is known only once the
// VMDK has been written; rather than spool the VMDK, the writer streams it
// and then rewrites that one header with WriteAt: it needs a
// [Destination], and is not a [StreamWriter]. The digests are computed
// while writing.
type OVA struct {
	// Name is the base name of the members (Name.ovf, Name.vmdk, Name.mf)
	// and of the virtual machine; "disk" if empty.
	Name string
	// CPUs and MemoryMiB size the virtual hardware; 0 means 2 CPUs and
	// 2048 MiB.
	CPUs, MemoryMiB int
	// Controller is the SCSI controller: "lsilogic" (default) or
	// "pvscsi".
	Controller string
	// SecureBoot asks vSphere to enable UEFI Secure Boot.
	SecureBoot bool
	// SHA1 writes SHA-1 digests in the manifest instead of SHA-256, for
	// old importers.
	SHA1 bool
	// SourceDateEpoch is the members' modification time, in Unix seconds.
	SourceDateEpoch int64
	// VMDK holds the options of the disk inside; its FileName and
	// AdapterType are set by the OVA.
	VMDK VMDK
	// Progress, if set, receives the source bytes done.
	Progress progress.Reporter
}

// Format returns vm.FormatOVA.
func (OVA) Format() Format { return vm.FormatOVA }

// VirtualSize is the size of the VMDK inside.
func (w OVA) VirtualSize(size int64) int64 { return w.VMDK.VirtualSize(size) }

// WriteDisk writes src as an OVA to dst, the VMDK's tar header last.
func (w OVA) WriteDisk(ctx context.Context, dst Destination, src Source) error {
	name := w.Name
	if name == "" {
		name = "disk"
	}
	if strings.ContainsAny(name, "/\\\"<>&'\n") || len(name) > 90 {
		return fmt.Errorf("%w: ova name %q must be a plain name of at most 90 bytes", ErrOption, name)
	}
	ctrl := map[string]string{"": "lsilogic", "lsilogic": "lsilogic", "pvscsi": "VirtualSCSI"}[w.Controller]
	if ctrl == "" {
		return fmt.Errorf("%w: ova controller %q (want lsilogic or pvscsi)", ErrOption, w.Controller)
	}
	cpus, mem := w.CPUs, w.MemoryMiB
	if cpus == 0 {
		cpus = 2
	}
	if mem == 0 {
		mem = 2048
	}
	if cpus < 1 || cpus > 768 || mem < 4 || mem > 24<<20 {
		return fmt.Errorf("%w: ova hardware %d CPUs, %d MiB", ErrOption, cpus, mem)
	}
	if _, err := checkSource(src); err != nil {
		return err
	}
	disk := w.VMDK
	disk.FileName = name + ".vmdk"
	disk.AdapterType = "lsilogic"
	if disk.Progress == nil {
		disk.Progress = w.Progress
	}
	if _, _, _, err := disk.params(); err != nil {
		return err
	}
	var ovf strings.Builder
	err := ovfTemplate.Execute(&ovf, map[string]any{
		"Name": name, "VMDK": disk.FileName, "Capacity": disk.VirtualSize(src.Size()),
		"CPUs": cpus, "Memory": mem, "Controller": ctrl, "SecureBoot": w.SecureBoot,
	})
	if err != nil {
		return fmt.Errorf("vdisk: ova: descriptor: %w", err)
	}

	newHash := sha256.New
	algo := "SHA256"
	if w.SHA1 {
		newHash, algo = sha1.New, "SHA1"
	}
	bw := bufio.NewWriterSize(dst, 1<<20)
	t := &tarStream{w: bw, mtime: w.SourceDateEpoch}
	var mf strings.Builder
	add := func(member string, h hash.Hash) {
		fmt.Fprintf(&mf, "%s(%s)= %s\n", algo, member, hex.EncodeToString(h.Sum(nil)))
	}
	h := newHash()
	if err := t.file(name+".ovf", []byte(ovf.String()), h); err != nil {
		return fmt.Errorf("vdisk: ova: %w", err)
	}
	add(name+".ovf", h)

	hdrAt := t.pos
	if err := t.write(make([]byte, 512)); err != nil { // rewritten below
		return fmt.Errorf("vdisk: ova: %w", err)
	}
	h = newHash()
	start := t.pos
	if err := disk.StreamDisk(ctx, io.MultiWriter(t, h), src); err != nil {
		return err
	}
	size := t.pos - start
	if err := t.pad(); err != nil {
		return fmt.Errorf("vdisk: ova: %w", err)
	}
	add(disk.FileName, h)
	if err := t.file(name+".mf", []byte(mf.String()), nil); err != nil {
		return fmt.Errorf("vdisk: ova: %w", err)
	}
	if err := t.close(); err != nil {
		return fmt.Errorf("vdisk: ova: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("vdisk: ova: %w", err)
	}
	if _, err := dst.WriteAt(ustarHeader(disk.FileName, size, w.SourceDateEpoch), hdrAt); err != nil {
		return fmt.Errorf("vdisk: ova: %w", err)
	}
	return nil
}

// tarStream writes ustar members to a stream.
type tarStream struct {
	w     io.Writer
	pos   int64
	mtime int64
}

func (t *tarStream) Write(b []byte) (int, error) {
	n, err := t.w.Write(b)
	t.pos += int64(n)
	return n, err
}

func (t *tarStream) write(b []byte) error { _, err := t.Write(b); return err }

func (t *tarStream) pad() error { return t.write(make([]byte, (512-t.pos%512)%512)) }

// file writes one member; h, if not nil, sees its content.
func (t *tarStream) file(name string, b []byte, h hash.Hash) error {
	if err := t.write(ustarHeader(name, int64(len(b)), t.mtime)); err != nil {
		return err
	}
	if h != nil {
		h.Write(b)
	}
	if err := t.write(b); err != nil {
		return err
	}
	return t.pad()
}

// close ends the archive with two zero blocks and fills the 10 KiB record.
func (t *tarStream) close() error {
	n := t.pos + 1024
	return t.write(make([]byte, 1024+(10240-n%10240)%10240))
}

// ustarHeader is the POSIX ustar header of a regular file; a size beyond
// ustar's 8 GiB is written in GNU base-256, as GNU tar and Go read it.
func ustarHeader(name string, size, mtime int64) []byte {
	h := make([]byte, 512)
	copy(h[0:100], name)
	putOctal(h[100:108], 0o644)
	putOctal(h[108:116], 0)
	putOctal(h[116:124], 0)
	putNumeric(h[124:136], size)
	putNumeric(h[136:148], max(mtime, 0))
	h[156] = '0'
	copy(h[257:265], "ustar\x0000")
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

var ovfTemplate = template.Must(template.New("ovf").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{{.VMDK}}" ovf:id="file1"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{{.Capacity}}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{{.Name}}">
    <Info>A virtual machine</Info>
    <Name>{{.Name}}</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="other5xLinux64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{{.Name}}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-14</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{{.CPUs}} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.CPUs}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{{.Memory}}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.Memory}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>{{.Controller}}</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item ovf:required="false">
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
{{- if .SecureBoot}}
      <vmw:Config ovf:required="false" vmw:key="bootOptions.efiSecureBootEnabled" vmw:value="true"/>
{{- end}}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`))
