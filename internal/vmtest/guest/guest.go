// Package guest makes machines of a platform from a hardvm build for the
// tests and examples that boot them: the platform's emulated hardware
// (Hardwares: the disk format it imports, the root disk's controller, the
// NIC, the SMBIOS identity), a copy-on-write overlay of the exported disk,
// and the platform's metadata with the machine's host name, login key and
// user data: IMDSv2 (aws), the GCE metadata server (gcp), IMDS and the
// wire server (azure), guestinfo through fw_cfg (vmware), a config drive
// (nutanix), a NoCloud seed (qemu). The network metadata services are
// fakes built from the clouds' documented wire formats
// (image/firstboot/firstboottest), since no real one runs outside its
// cloud; they check every request they get, and Guest.Violations reports
// what broke the protocol.
package guest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/image/firstboot/firstboottest"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/vm"
)

// ErrNoHardware reports a platform with no row in Hardwares.
var ErrNoHardware = errors.New("guest: no emulated hardware for the platform")

// Hardware is how a platform's machine is emulated in QEMU: the disk
// format the image is exported in and booted from, the root disk's
// controller, the NIC, and the SMBIOS identity the platform's own
// machines report.
type Hardware struct {
	Format vm.DiskFormat
	Bus    string // a vmtest bus
	NIC    string // a QEMU NIC model
	SMBIOS []string
	// Driver is the kernel driver the booted machine must have bound to
	// the root disk's controller, Net the one bound to its NIC.
	Driver, Net string
	// FirmwareESP attaches a copy of the disk's ESP (read from the booted
	// disk itself) as a read-only virtio-blk volume: OVMF as Debian builds
	// it does not boot from this controller (with the root disk on pvscsi
	// it finds nothing and falls through to PXE), VMware's own firmware
	// does. The UKI is the image's; the initramfs, which has no virtio
	// driver, still has to find the root on the platform's controller.
	FirmwareESP bool
}

// Hardwares is the table of what each platform's machine emulates.
// Azure's VMBus devices (storvsc, netvsc) cannot be emulated by QEMU: the
// Azure image boots on its NVMe driver (Azure's v6 machines' disks) and
// a virtio NIC, which is what its boot check can prove; that its
// initramfs carries hv_storvsc and hv_netvsc is checked in the image.
var Hardwares = map[vm.Cloud]Hardware{
	vm.QEMU:    {Format: vm.FormatQCOW2, Bus: vmtest.BusVirtio, NIC: "virtio-net-pci", Driver: "virtio_blk", Net: "virtio_net"},
	vm.AWS:     {Format: vm.FormatRaw, Bus: vmtest.BusNVMe, NIC: "virtio-net-pci", Driver: "nvme", Net: "virtio_net", SMBIOS: []string{"type=1,manufacturer=Amazon EC2,product=m7i.large"}},
	vm.GCP:     {Format: vm.FormatGCE, Bus: vmtest.BusVirtioSCSI, NIC: "virtio-net-pci", Driver: "virtio_scsi", Net: "virtio_net", SMBIOS: []string{"type=1,manufacturer=Google,product=Google Compute Engine"}},
	vm.Azure:   {Format: vm.FormatVHD, Bus: vmtest.BusNVMe, NIC: "virtio-net-pci", Driver: "nvme", Net: "virtio_net", SMBIOS: []string{"type=1,manufacturer=Microsoft Corporation,product=Virtual Machine"}},
	vm.VMware:  {Format: vm.FormatOVA, Bus: vmtest.BusPVSCSI, NIC: "vmxnet3", Driver: "vmw_pvscsi", Net: "vmxnet3", FirmwareESP: true, SMBIOS: []string{"type=1,manufacturer=VMware,, Inc.,product=VMware7,,1"}},
	vm.Nutanix: {Format: vm.FormatQCOW2, Bus: vmtest.BusVirtioSCSI, NIC: "virtio-net-pci", Driver: "virtio_scsi", Net: "virtio_net", SMBIOS: []string{"type=1,manufacturer=Nutanix,product=AHV"}},
}

// Spec is a machine to make.
type Spec struct {
	Platform vm.Cloud
	Arch     vm.Arch // default x86_64
	// Dir holds the machine's overlay, its unpacked disk, its metadata
	// volumes, firmware variables and console log.
	Dir string
	// Hostname, User (the login user) and AuthorizedKey are what the
	// platform's metadata gives the machine; UserData its user data (nil:
	// none; the NoCloud seed then carries a #cloud-config with the key).
	Hostname, User, AuthorizedKey string
	UserData                      []byte
	// Forward lists guest TCP ports forwarded from 127.0.0.1.
	Forward []int
	// CPUs (default 1; 2 for aarch64, whose emulation is slower) and
	// MemoryMB (default vmtest's).
	CPUs, MemoryMB int
	// SourceDateEpoch stamps the metadata volumes' files.
	SourceDateEpoch int64
}

// Guest is a machine of a platform ready to boot: its disk (an overlay
// of the exported image), its QEMU configuration with the platform's
// metadata, and the fakes that serve the metadata.
type Guest struct {
	Platform vm.Cloud
	Config   vmtest.Config
	Hostname string
	Accel    string // "kvm" or "tcg"
	EC2      *firstboottest.EC2
	GCE      *firstboottest.GCE
	Azure    *firstboottest.Azure
	servers  []*http.Server
}

// Close stops the metadata fakes.
func (g *Guest) Close() {
	for _, s := range g.servers {
		s.Close()
	}
}

// Violations are the protocol violations the metadata fakes saw.
func (g *Guest) Violations() []string {
	var v []string
	switch {
	case g.EC2 != nil:
		v = g.EC2.Violations()
	case g.GCE != nil:
		v = g.GCE.Violations()
	case g.Azure != nil:
		v = g.Azure.Violations()
	}
	return v
}

// Start starts the machine's QEMU.
func (g *Guest) Start() (*vmtest.Machine, error) { return vmtest.Start(g.Config) }

// serve starts h on 127.0.0.1 and returns its address.
func (g *Guest) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.Serve(l) }()
	g.servers = append(g.servers, s)
	return l.Addr().String(), nil
}

// metadataHost is the host's address in the link-local network a cloud's
// metadata server lives in, as QEMU's user network gives it to the guest.
const metadataHost = "169.254.169.2"

var metadataNet = []string{"net=169.254.169.0/24", "host=" + metadataHost}

// Azure's IMDS is at 169.254.169.254 and its wire server at
// 168.63.129.16; QEMU forwards a guest address only inside the virtual
// network, so the Azure guest gets one network that holds both: 168.0.0.0/6.
const azureHost = "168.0.0.2"

var azureNet = []string{"net=168.0.0.0/6", "host=" + azureHost}

// HostIP is the address at which a machine of platform p reaches the
// host's 127.0.0.1 (QEMU's user network maps it to its host address):
// 10.0.2.2, or the host address of the network its metadata fake needs.
func HostIP(p vm.Cloud) string {
	switch p {
	case vm.AWS, vm.GCP:
		return metadataHost
	case vm.Azure:
		return azureHost
	}
	return "10.0.2.2"
}

// Accel returns whether to use KVM (only when vmtest's probe showed it
// runs OVMF here) and its name.
func Accel() (bool, string) {
	if ok, _ := vmtest.KVMUsable(); ok {
		return true, "kvm"
	}
	return false, "tcg"
}

// NewUUID returns a random SMBIOS system UUID, as a cloud gives each
// instance.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// New makes a machine of s.Platform from the build o: it extracts the
// disk from the platform's format (tar for GCE's disk.raw and the OVA's
// VMDK, as the platforms do), makes a copy-on-write overlay of it, and
// gives the machine its host name, the login key and the user data
// through the platform's metadata. The network fakes are reached through
// the running binary as a relay (vmtest.MaybeRelay in TestMain or main).
// Close the guest when done.
func New(ctx context.Context, o *hardvm.Output, s Spec) (*Guest, error) {
	hw, ok := Hardwares[s.Platform]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoHardware, s.Platform)
	}
	if s.Arch == "" {
		s.Arch = vm.X86_64
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	var art string
	for _, a := range o.Artifacts {
		if a.Format == hw.Format {
			art = a.Path
		}
	}
	if art == "" {
		return nil, fmt.Errorf("guest: no %s disk in %s", hw.Format, o.Dir)
	}
	disk, format, err := bootable(ctx, art, hw.Format, s.Dir)
	if err != nil {
		return nil, err
	}
	overlay := filepath.Join(s.Dir, "machine.qcow2")
	if err := Overlay(disk, format, overlay); err != nil {
		return nil, err
	}
	var esp string
	if hw.FirmwareESP {
		if esp, err = espCopy(ctx, o, disk, format, filepath.Join(s.Dir, "esp.img")); err != nil {
			return nil, err
		}
	}
	kvm, accel := Accel()
	cpus := s.CPUs
	if cpus == 0 {
		cpus = 1
		if s.Arch == vm.Aarch64 {
			cpus = 2
		}
	}
	g := &Guest{Platform: s.Platform, Hostname: s.Hostname, Accel: accel, Config: vmtest.Config{Arch: s.Arch, Disk: overlay, Dir: s.Dir,
		UUID: NewUUID(), KVM: kvm, CPUs: cpus, MemoryMB: s.MemoryMB, DiskBus: hw.Bus, NIC: hw.NIC, SMBIOS: hw.SMBIOS, Forward: s.Forward}}
	if esp != "" {
		g.Config.Drives = append(g.Config.Drives, esp)
	}
	if err := g.metadata(ctx, s); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// metadata gives g the platform's metadata of s.
func (g *Guest) metadata(ctx context.Context, s Spec) error {
	fwd := func(guest string, h http.Handler) error {
		addr, err := g.serve(h)
		if err != nil {
			return err
		}
		opt, err := vmtest.GuestFwd(guest, addr)
		g.Config.Net = append(g.Config.Net, opt)
		return err
	}
	id := NewUUID()
	switch s.Platform {
	case vm.AWS:
		g.EC2 = &firstboottest.EC2{InstanceID: "i-" + id[:17], LocalHostname: s.Hostname + ".ec2.internal", Keys: []string{s.AuthorizedKey}, UserData: s.UserData}
		g.Config.Net = append(g.Config.Net, metadataNet...)
		return fwd("169.254.169.254:80", g.EC2)
	case vm.GCP:
		g.GCE = &firstboottest.GCE{ID: "4242", Hostname: s.Hostname + ".c.hardvm-test.internal",
			Instance: map[string]string{"ssh-keys": s.User + ":" + s.AuthorizedKey}}
		if s.UserData != nil {
			g.GCE.Instance["user-data"] = string(s.UserData)
		}
		g.Config.Net = append(g.Config.Net, metadataNet...)
		return fwd("169.254.169.254:80", g.GCE)
	case vm.Azure:
		g.Azure = &firstboottest.Azure{VMID: id, ComputerName: s.Hostname, Keys: []string{s.AuthorizedKey}, UserData: s.UserData, Incarnation: "1",
			ContainerID: NewUUID(), RoleInstanceID: id + "._" + s.Hostname}
		g.Config.Net = append(g.Config.Net, azureNet...)
		if err := fwd("169.254.169.254:80", g.Azure.IMDS()); err != nil {
			return err
		}
		return fwd("168.63.129.16:80", g.Azure.WireServer())
	case vm.VMware:
		meta := fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\npublic-keys:\n  - %s\n", id, s.Hostname, s.AuthorizedKey)
		g.Config.FwCfg = []string{
			"name=" + firstboot.FwCfgPrefix + "guestinfo.metadata,string=" + base64.StdEncoding.EncodeToString([]byte(meta)),
			"name=" + firstboot.FwCfgPrefix + "guestinfo.metadata.encoding,string=base64",
		}
		if s.UserData != nil {
			g.Config.FwCfg = append(g.Config.FwCfg,
				"name="+firstboot.FwCfgPrefix+"guestinfo.userdata,string="+base64.StdEncoding.EncodeToString(s.UserData),
				"name="+firstboot.FwCfgPrefix+"guestinfo.userdata.encoding,string=base64")
		}
		return nil
	case vm.Nutanix:
		iso, err := ConfigDrive(ctx, filepath.Join(s.Dir, "config-2"), id, s.Hostname, s.AuthorizedKey, s.UserData)
		if err == nil {
			g.Config.CDROMs = []string{iso}
		}
		return err
	case vm.QEMU:
		seed := filepath.Join(s.Dir, "seed.img")
		err := firstboot.WriteNoCloudSeedFile(ctx, seed, firstboot.Seed{Hostname: s.Hostname, AuthorizedKeys: []string{s.AuthorizedKey},
			UserData: s.UserData, SourceDateEpoch: s.SourceDateEpoch})
		if err == nil {
			g.Config.Drives = append(g.Config.Drives, seed)
		}
		return err
	}
	return fmt.Errorf("%w: no metadata for %s", ErrNoHardware, s.Platform)
}

// bootable returns the disk QEMU boots for an artifact of format f, and
// its QEMU format: GCE's tar.gz and the OVA are unpacked with tar.
func bootable(ctx context.Context, art string, f vm.DiskFormat, dir string) (string, string, error) {
	switch f {
	case vm.FormatRaw:
		return art, "raw", nil
	case vm.FormatQCOW2:
		return art, "qcow2", nil
	case vm.FormatVHD:
		return art, "vpc", nil
	case vm.FormatVMDK:
		return art, "vmdk", nil
	case vm.FormatGCE:
		out := filepath.Join(dir, "gce")
		if err := untar(ctx, art, out, "-xzSf"); err != nil {
			return "", "", err
		}
		return filepath.Join(out, "disk.raw"), "raw", nil
	case vm.FormatOVA:
		out := filepath.Join(dir, "ova")
		if err := untar(ctx, art, out, "-xf"); err != nil {
			return "", "", err
		}
		vmdks, _ := filepath.Glob(filepath.Join(out, "*.vmdk"))
		if len(vmdks) != 1 {
			return "", "", fmt.Errorf("guest: the OVA holds %d VMDKs, want 1", len(vmdks))
		}
		return vmdks[0], "vmdk", nil
	}
	return "", "", fmt.Errorf("guest: no way to boot a %s disk", f)
}

// espCopy writes the ESP partition of disk (QEMU format format) to path
// with qemu-img dd: a FAT volume the firmware can boot from.
func espCopy(ctx context.Context, o *hardvm.Output, disk, format, path string) (string, error) {
	for _, p := range o.Disk.Partitions {
		if p.Name != "esp" {
			continue
		}
		// qemu-img dd counts count= from the start of the input, skipped
		// blocks included: count=size/bs would cut skip blocks off the
		// end of the copy.
		const bs = 512
		out, err := exec.CommandContext(ctx, "qemu-img", "dd", "-f", format, "-O", "raw", "bs="+strconv.Itoa(bs),
			"skip="+strconv.FormatInt(p.Offset/bs, 10), "count="+strconv.FormatInt((p.Offset+p.Size)/bs, 10), "if="+disk, "of="+path).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("qemu-img dd: %v: %s", err, out)
		}
		return path, nil
	}
	return "", fmt.Errorf("guest: no ESP partition in %s", o.Dir)
}

func untar(ctx context.Context, archive, dir, flags string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "tar", flags, archive, "-C", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("tar %s %s: %v: %s", flags, archive, err, out)
	}
	return nil
}

// Overlay makes a qcow2 overlay at path of disk, a disk of QEMU format
// format (raw, qcow2, vpc, vmdk): a machine of its own whose writes leave
// the image alone.
func Overlay(disk, format, path string) error {
	abs, err := filepath.Abs(disk)
	if err != nil {
		return err
	}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", abs, "-F", format, path).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img create: %v: %s", err, out)
	}
	return nil
}

// ConfigDrive writes an OpenStack config drive as Nutanix AHV attaches
// one (an ISO 9660 volume labelled config-2, made with genisoimage) with
// openstack/latest/meta_data.json naming the instance, its host name and
// key, and openstack/latest/user_data when userData is not nil, and
// returns its path.
func ConfigDrive(ctx context.Context, dir, uuid, hostname, authorized string, userData []byte) (string, error) {
	latest := filepath.Join(dir, "openstack", "latest")
	if err := os.MkdirAll(latest, 0o755); err != nil {
		return "", err
	}
	meta, err := json.Marshal(map[string]any{"uuid": uuid, "hostname": hostname, "name": hostname,
		"public_keys": map[string]string{"ops": authorized}})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(latest, "meta_data.json"), meta, 0o644); err != nil {
		return "", err
	}
	if userData != nil {
		if err := os.WriteFile(filepath.Join(latest, "user_data"), userData, 0o644); err != nil {
			return "", err
		}
	}
	iso := dir + ".iso"
	if out, err := exec.CommandContext(ctx, "genisoimage", "-quiet", "-V", "config-2", "-J", "-R", "-o", iso, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("genisoimage: %v: %s", err, out)
	}
	return iso, nil
}
