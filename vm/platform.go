package vm

import (
	"fmt"
	"slices"
)

// Cloud names a target an image is built for and published to: a public
// cloud or an on-prem hypervisor.
type Cloud string

// The platforms hardvm builds for.
const (
	AWS     Cloud = "aws"
	GCP     Cloud = "gcp"
	Azure   Cloud = "azure"
	QEMU    Cloud = "qemu" // KVM with QEMU, also the generic on-prem KVM target
	VMware  Cloud = "vmware"
	Nutanix Cloud = "nutanix"
)

// DiskFormat names a virtual-disk file format.
type DiskFormat string

// The disk formats hardvm writes.
const (
	FormatRaw   DiskFormat = "raw"   // sparse raw disk
	FormatQCOW2 DiskFormat = "qcow2" // QEMU copy-on-write v3
	FormatVHD   DiskFormat = "vhd"   // fixed VHD, as Azure requires
	FormatVMDK  DiskFormat = "vmdk"  // streamOptimized VMDK
	FormatGCE   DiskFormat = "gce"   // disk.raw in a gzip'd oldgnu sparse tar
	FormatOVA   DiskFormat = "ova"   // OVF package: .ovf, .vmdk, .mf in a tar
)

// DiskFormats lists every format in a stable order.
func DiskFormats() []DiskFormat {
	return []DiskFormat{FormatRaw, FormatQCOW2, FormatVHD, FormatVMDK, FormatGCE, FormatOVA}
}

// Valid reports whether f is a known format.
func (f DiskFormat) Valid() bool { return slices.Contains(DiskFormats(), f) }

// Ext returns the usual file extension of f, with its dot.
func (f DiskFormat) Ext() string {
	switch f {
	case FormatGCE:
		return ".tar.gz"
	case FormatRaw:
		return ".raw"
	}
	return "." + string(f)
}

// Firmware is how a platform boots an image. Every hardvm platform boots
// with UEFI; the type exists so that a platform states it.
type Firmware string

// UEFI is the only firmware hardvm images target.
const UEFI Firmware = "uefi"

// MiB and GiB are the units platform rules are stated in.
const (
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
)

// Rule is one requirement a platform places on images, with why.
type Rule struct {
	ID   string `json:"id"`   // short, stable identifier, e.g. "azure-vhd-fixed"
	Text string `json:"text"` // what the platform requires
}

// MetadataSource names where a machine built for a platform finds its
// first-boot configuration (hostname, SSH keys, user data).
type MetadataSource string

// The metadata sources hardvm's first-boot agent reads.
const (
	// MetadataNoCloud is cloud-init's NoCloud: a volume labelled CIDATA
	// (vfat or iso9660) holding meta-data and user-data.
	MetadataNoCloud MetadataSource = "nocloud"
	// MetadataConfigDrive is the OpenStack config drive: a volume
	// labelled config-2 holding openstack/latest/meta_data.json.
	MetadataConfigDrive MetadataSource = "configdrive"
	// MetadataEC2 is the EC2 instance metadata service, IMDSv2 only.
	MetadataEC2 MetadataSource = "ec2"
	// MetadataGCE is the Compute Engine metadata server.
	MetadataGCE MetadataSource = "gce"
	// MetadataAzure is Azure's IMDS, with the wire server's ready report.
	MetadataAzure MetadataSource = "azure"
	// MetadataGuestInfo is VMware's guestinfo.metadata/userdata.
	MetadataGuestInfo MetadataSource = "guestinfo"
)

// MetadataSources lists every metadata source in a stable order.
func MetadataSources() []MetadataSource {
	return []MetadataSource{MetadataNoCloud, MetadataConfigDrive, MetadataEC2, MetadataGCE, MetadataAzure, MetadataGuestInfo}
}

// Valid reports whether m is a known metadata source.
func (m MetadataSource) Valid() bool { return slices.Contains(MetadataSources(), m) }

// Platform describes one target: its firmware, the disk formats it accepts
// (the first is the default), its size alignment, and its rules.
type Platform struct {
	Cloud      Cloud        `json:"cloud"`
	Name       string       `json:"name"`    // human name
	OnPrem     bool         `json:"on_prem"` // an on-prem hypervisor rather than a public cloud
	Firmware   Firmware     `json:"firmware"`
	Formats    []DiskFormat `json:"formats"`     // accepted formats, default first
	SizeAlign  int64        `json:"size_align"`  // the virtual size is rounded up to a multiple of this
	SecureBoot bool         `json:"secure_boot"` // the platform can enforce Secure Boot with custom keys
	Arches     []Arch       `json:"arches"`
	Rules      []Rule       `json:"rules"`
	// StorageDrivers are the kernel modules of the controllers a root disk
	// sits on (with the disk driver a SCSI controller needs): the
	// initramfs loads them to find the root.
	StorageDrivers []string `json:"storage_drivers"`
	// NICDrivers are the kernel modules of the platform's network devices.
	NICDrivers []string `json:"nic_drivers"`
	// Consoles overrides Arch.Console for an architecture whose serial
	// port the platform presents differently.
	Consoles map[Arch]string `json:"consoles,omitempty"`
	// Metadata lists where the first-boot agent looks for the machine's
	// configuration, in order: the first source that has it wins.
	Metadata []MetadataSource `json:"metadata"`
}

// platforms is the one literal table of platforms, in a stable order.
var platforms = []Platform{
	{
		Cloud: AWS, Name: "Amazon EC2", Firmware: UEFI,
		Formats: []DiskFormat{FormatRaw, FormatVMDK, FormatVHD}, SizeAlign: GiB, SecureBoot: true,
		Arches:         []Arch{X86_64, Aarch64},
		StorageDrivers: []string{"nvme"},
		NICDrivers:     []string{"ena"},
		// Graviton presents a 16550-compatible UART, not a PL011.
		Consoles: map[Arch]string{Aarch64: "ttyS0"},
		Metadata: []MetadataSource{MetadataEC2},
		Rules: []Rule{
			{"aws-uefi", "registered with BootMode=uefi and TPM 2.0"},
			{"aws-nvme-ena", "carries the NVMe storage and ENA network drivers"},
			{"aws-imdsv2", "instance metadata only through IMDSv2 (ImdsSupport=v2.0)"},
			{"aws-size", "snapshot size in whole GiB"},
		},
	},
	{
		Cloud: GCP, Name: "Google Compute Engine", Firmware: UEFI,
		Formats: []DiskFormat{FormatGCE}, SizeAlign: GiB, SecureBoot: true,
		Arches:         []Arch{X86_64, Aarch64},
		StorageDrivers: []string{"virtio_pci", "virtio_scsi", "sd_mod", "nvme"},
		NICDrivers:     []string{"gve", "virtio_net"},
		Metadata:       []MetadataSource{MetadataGCE},
		Rules: []Rule{
			{"gcp-disk-raw", "a file named disk.raw in a gzip-compressed tar (oldgnu sparse)"},
			{"gcp-size", "virtual size a whole number of GiB"},
			{"gcp-uefi", "guestOsFeatures UEFI_COMPATIBLE; shielded VM"},
		},
	},
	{
		Cloud: Azure, Name: "Azure Compute (Gen2)", Firmware: UEFI,
		Formats: []DiskFormat{FormatVHD}, SizeAlign: MiB, SecureBoot: true,
		Arches:         []Arch{X86_64, Aarch64},
		StorageDrivers: []string{"hv_storvsc", "sd_mod", "nvme"},
		NICDrivers:     []string{"hv_netvsc", "mana"},
		Metadata:       []MetadataSource{MetadataAzure},
		Rules: []Rule{
			{"azure-vhd-fixed", "a fixed (not dynamic) VHD"},
			{"azure-size", "virtual size a multiple of 1 MiB"},
			{"azure-gen2", "Hyper-V generation 2 (UEFI), Trusted Launch"},
		},
	},
	{
		Cloud: QEMU, Name: "KVM (QEMU)", OnPrem: true, Firmware: UEFI,
		Formats: []DiskFormat{FormatQCOW2, FormatRaw}, SizeAlign: MiB, SecureBoot: true,
		Arches:         []Arch{X86_64, Aarch64},
		StorageDrivers: []string{"virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod"},
		NICDrivers:     []string{"virtio_net"},
		Metadata:       []MetadataSource{MetadataNoCloud},
		Rules:          []Rule{{"qemu-uefi", "boots with OVMF/AAVMF UEFI firmware"}},
	},
	{
		Cloud: VMware, Name: "VMware vSphere", OnPrem: true, Firmware: UEFI,
		Formats: []DiskFormat{FormatOVA, FormatVMDK}, SizeAlign: MiB, SecureBoot: true,
		Arches:         []Arch{X86_64},
		StorageDrivers: []string{"vmw_pvscsi", "sd_mod"},
		NICDrivers:     []string{"vmxnet3"},
		Metadata:       []MetadataSource{MetadataGuestInfo, MetadataNoCloud},
		Rules: []Rule{
			{"vmware-vmdk", "streamOptimized VMDK, or an OVA holding one"},
			{"vmware-efi", "firmware=efi in the VM configuration"},
		},
	},
	{
		Cloud: Nutanix, Name: "Nutanix AHV", OnPrem: true, Firmware: UEFI,
		Formats: []DiskFormat{FormatQCOW2, FormatRaw}, SizeAlign: MiB, SecureBoot: true,
		Arches:         []Arch{X86_64},
		StorageDrivers: []string{"virtio_pci", "virtio_scsi", "sd_mod", "virtio_blk"},
		NICDrivers:     []string{"virtio_net"},
		Metadata:       []MetadataSource{MetadataConfigDrive, MetadataNoCloud},
		Rules:          []Rule{{"nutanix-image", "qcow2 or raw disk image, UEFI boot"}},
	},
}

// Platforms returns every platform, in a stable order. The slice is a copy.
func Platforms() []Platform {
	out := make([]Platform, len(platforms))
	copy(out, platforms)
	return out
}

// Clouds returns the names of every platform.
func Clouds() []Cloud {
	out := make([]Cloud, len(platforms))
	for i, p := range platforms {
		out[i] = p.Cloud
	}
	return out
}

// LookupPlatform returns the platform named c.
func LookupPlatform(c Cloud) (Platform, error) {
	for _, p := range platforms {
		if p.Cloud == c {
			return p, nil
		}
	}
	return Platform{}, fmt.Errorf("%w: platform %q (want one of %v)", ErrUnknown, c, Clouds())
}

// Valid reports whether c names a platform.
func (c Cloud) Valid() bool {
	_, err := LookupPlatform(c)
	return err == nil
}

// Accepts reports whether the platform accepts disks in format f.
func (p Platform) Accepts(f DiskFormat) bool { return slices.Contains(p.Formats, f) }

// AlignSize rounds size up to the platform's size alignment.
func (p Platform) AlignSize(size int64) int64 {
	if p.SizeAlign <= 0 {
		return size
	}
	return (size + p.SizeAlign - 1) / p.SizeAlign * p.SizeAlign
}

// CheckSize reports whether a virtual disk of size bytes satisfies the
// platform's alignment rule.
func (p Platform) CheckSize(size int64) error {
	if size <= 0 {
		return fmt.Errorf("%w: %s: disk size %d is not positive", ErrUnsupported, p.Cloud, size)
	}
	if p.SizeAlign > 0 && size%p.SizeAlign != 0 {
		return fmt.Errorf("%w: %s: disk size %d is not a multiple of %d bytes", ErrUnsupported, p.Cloud, size, p.SizeAlign)
	}
	return nil
}

// Drivers returns the kernel modules a machine of the platform needs to
// find its root disk and its network: StorageDrivers, then NICDrivers.
func (p Platform) Drivers() []string {
	return slices.Concat(p.StorageDrivers, p.NICDrivers)
}

// Console returns the serial console device of the platform's machines of
// architecture a (the kernel's console=), from Consoles, else a's.
func (p Platform) Console(a Arch) string {
	if c, ok := p.Consoles[a]; ok {
		return c
	}
	return a.Console()
}
