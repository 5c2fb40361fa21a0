package main

import (
	"context"
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
	"strings"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/image/firstboot/firstboottest"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/vm"
)

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

// Hardwares is the table of what each platform's boot check emulates.
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

// Guest is a machine of a platform ready to boot: its disk (an overlay
// of the exported image), its QEMU configuration with the platform's
// metadata, and the fakes that serve the metadata.
type Guest struct {
	Platform vm.Cloud
	Config   vmtest.Config
	Hostname string
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

// The link-local network a cloud's metadata server lives in, as QEMU's
// user network gives it to the guest.
var metadataNet = []string{"net=169.254.169.0/24", "host=169.254.169.2"}

// Azure's IMDS is at 169.254.169.254 and its wire server at
// 168.63.129.16; QEMU forwards a guest address only inside the virtual
// network, so the Azure guest gets one network that holds both: 168.0.0.0/6.
var azureNet = []string{"net=168.0.0.0/6", "host=168.0.0.2"}

// NewGuest makes a machine of platform p from the image o in dir: it
// extracts the disk from the platform's format (tar for GCE's disk.raw and
// the OVA's VMDK, as the platforms do), makes a copy-on-write overlay of
// it, and gives the machine hostname and the SSH key authorized through
// the platform's metadata: IMDSv2 (aws), the GCE metadata server (gcp),
// IMDS and the wire server (azure), guestinfo through fw_cfg (vmware), a
// config drive (nutanix), a NoCloud seed (qemu). Guest ports forward
// are forwarded from 127.0.0.1. The network fakes are reached through
// this binary as a relay (vmtest.MaybeRelay in TestMain or main).
func NewGuest(ctx context.Context, o *hardvm.Output, p vm.Cloud, a vm.Arch, dir, hostname, authorized string, forward ...int) (*Guest, error) {
	hw, ok := Hardwares[p]
	if !ok {
		return nil, fmt.Errorf("no emulated hardware for platform %s", p)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var art string
	for _, a := range o.Artifacts {
		if a.Format == hw.Format {
			art = a.Path
		}
	}
	if art == "" {
		return nil, fmt.Errorf("no %s disk in %s", hw.Format, o.Dir)
	}
	disk, format, err := bootable(ctx, art, hw.Format, dir)
	if err != nil {
		return nil, err
	}
	overlay := filepath.Join(dir, "machine.qcow2")
	if err := OverlayOf(disk, format, overlay); err != nil {
		return nil, err
	}
	var esp string
	if hw.FirmwareESP {
		if esp, err = espCopy(ctx, o, disk, format, filepath.Join(dir, "esp.img")); err != nil {
			return nil, err
		}
	}
	kvm, _ := Accel()
	// One virtual CPU, as TestAppliancesBoot's machines: the other core
	// builds the next image. aarch64's emulation gets two.
	cpus := 1
	if a == vm.Aarch64 {
		cpus = 2
	}
	g := &Guest{Platform: p, Hostname: hostname, Config: vmtest.Config{Arch: a, Disk: overlay, Dir: dir, UUID: NewUUID(), KVM: kvm, CPUs: cpus,
		DiskBus: hw.Bus, NIC: hw.NIC, SMBIOS: hw.SMBIOS, Forward: forward}}
	if esp != "" {
		g.Config.Drives = append(g.Config.Drives, esp)
	}
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
	switch p {
	case vm.AWS:
		g.EC2 = &firstboottest.EC2{InstanceID: "i-" + id[:17], LocalHostname: hostname + ".ec2.internal", Keys: []string{authorized}}
		g.Config.Net = append(g.Config.Net, metadataNet...)
		err = fwd("169.254.169.254:80", g.EC2)
	case vm.GCP:
		g.GCE = &firstboottest.GCE{ID: "4242", Hostname: hostname + ".c.hardvm-test.internal",
			Instance: map[string]string{"ssh-keys": LoginUser + ":" + authorized}}
		g.Config.Net = append(g.Config.Net, metadataNet...)
		err = fwd("169.254.169.254:80", g.GCE)
	case vm.Azure:
		g.Azure = &firstboottest.Azure{VMID: id, ComputerName: hostname, Keys: []string{authorized}, Incarnation: "1",
			ContainerID: NewUUID(), RoleInstanceID: id + "._" + hostname}
		g.Config.Net = append(g.Config.Net, azureNet...)
		if err = fwd("169.254.169.254:80", g.Azure.IMDS()); err == nil {
			err = fwd("168.63.129.16:80", g.Azure.WireServer())
		}
	case vm.VMware:
		meta := fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\npublic-keys:\n  - %s\n", id, hostname, authorized)
		g.Config.FwCfg = []string{
			"name=" + firstboot.FwCfgPrefix + "guestinfo.metadata,string=" + base64.StdEncoding.EncodeToString([]byte(meta)),
			"name=" + firstboot.FwCfgPrefix + "guestinfo.metadata.encoding,string=base64",
		}
	case vm.Nutanix:
		var iso string
		if iso, err = ConfigDrive(ctx, filepath.Join(dir, "config-2"), id, hostname, authorized); err == nil {
			g.Config.CDROMs = []string{iso}
		}
	case vm.QEMU:
		seed := filepath.Join(dir, "seed.img")
		if err = Seed(ctx, seed, hostname, authorized); err == nil {
			g.Config.Drives = []string{seed}
		}
	}
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
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
			return "", "", fmt.Errorf("the OVA holds %d VMDKs, want 1", len(vmdks))
		}
		return vmdks[0], "vmdk", nil
	}
	return "", "", fmt.Errorf("no way to boot a %s disk", f)
}

// espCopy writes the ESP partition of disk (QEMU format format) to path
// with qemu-img dd: a FAT volume the firmware can boot from.
func espCopy(ctx context.Context, o *hardvm.Output, disk, format, path string) (string, error) {
	for _, p := range o.Disk.Partitions {
		if p.Name != "esp" {
			continue
		}
		const bs = 512
		out, err := exec.CommandContext(ctx, "qemu-img", "dd", "-f", format, "-O", "raw", "bs="+strconv.Itoa(bs),
			"skip="+strconv.FormatInt(p.Offset/bs, 10), "count="+strconv.FormatInt(p.Size/bs, 10), "if="+disk, "of="+path).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("qemu-img dd: %v: %s", err, out)
		}
		return path, nil
	}
	return "", fmt.Errorf("no ESP partition in %s", o.Dir)
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

// OverlayOf makes a qcow2 overlay at path of disk, a disk of QEMU format
// format (raw, qcow2, vpc, vmdk).
func OverlayOf(disk, format, path string) error {
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
// key, and returns its path.
func ConfigDrive(ctx context.Context, dir, uuid, hostname, authorized string) (string, error) {
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
	iso := dir + ".iso"
	if out, err := exec.CommandContext(ctx, "genisoimage", "-quiet", "-V", "config-2", "-J", "-R", "-o", iso, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("genisoimage: %v: %s", err, out)
	}
	return iso, nil
}

// BootTimeoutAarch64 bounds one boot of an aarch64 machine: under software
// emulation of another architecture it takes several times as long.
const BootTimeoutAarch64 = 15 * time.Minute

// PlatformResult is what a platform's boot check saw.
type PlatformResult struct {
	Accel   string
	Nginx   time.Duration // QEMU's start to nginx's page
	Login   time.Duration // QEMU's start to systemd "running" seen over SSH
	Facts   map[string]string
	Machine *vmtest.Machine
}

// facts a booted platform machine must show, as shell commands.
var platformFacts = map[string]string{
	"hostname": "hostname",
	"root":     "findmnt -n -o SOURCE,FSTYPE,OPTIONS /",
	"verity":   "cat /sys/block/dm-0/dm/name /sys/block/dm-0/dm/uuid 2>&1",
	"var":      "p=/var/tmp/hardvm-$$ && echo ok > $p && cat $p && rm $p",
	"disk":     "for d in /sys/class/scsi_host/host*/proc_name; do cat $d; done 2>/dev/null; ls /sys/class/nvme 2>/dev/null; ls /sys/bus/virtio/drivers/virtio_blk 2>/dev/null | grep -c virtio",
	"nic":      "for n in /sys/class/net/*/device/driver; do basename $(readlink $n); done",
	"instance": "cat /run/hardvm/firstboot/instance.json",
}

// BootGuest boots g, waits for nginx's page through the forwarded port 80
// and for systemd's "running" seen by the login user logged in over SSH
// with key, and reads the facts of platformFacts. The machine is left
// running (r.Machine): power it off or kill it.
func BootGuest(ctx context.Context, g *Guest, key *vmtest.Key) (PlatformResult, error) {
	_, accel := Accel()
	r := PlatformResult{Accel: accel, Facts: map[string]string{}}
	m, err := vmtest.Start(g.Config)
	if err != nil {
		return r, err
	}
	r.Machine = m
	timeout := BootTimeout
	if g.Config.Arch == vm.Aarch64 {
		timeout = BootTimeoutAarch64
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	at, err := WaitNginx(wctx, m)
	if err != nil {
		return r, fmt.Errorf("%s: %w", g.Platform, err)
	}
	r.Nginx = at.Sub(m.Started())
	s, err := Running(wctx, m, key)
	if err != nil {
		return r, fmt.Errorf("%s: %w", g.Platform, err)
	}
	defer s.Close()
	r.Login = time.Since(m.Started())
	for name, cmd := range platformFacts {
		out, err := s.Run(wctx, cmd)
		if err != nil && name != "disk" {
			return r, fmt.Errorf("%s: %s: %w", g.Platform, cmd, err)
		}
		r.Facts[name] = strings.TrimSpace(out)
	}
	return r, nil
}

// CheckPlatform is the -boot check of an image built for a platform:
// NewGuest, BootGuest with a fresh key, then the checks every platform
// shares (CheckFacts) and a power-off.
func CheckPlatform(ctx context.Context, o *hardvm.Output, p vm.Cloud, a vm.Arch, dir string) (PlatformResult, error) {
	key, err := vmtest.NewKey("platform-check")
	if err != nil {
		return PlatformResult{}, err
	}
	g, err := NewGuest(ctx, o, p, a, dir, "check-"+string(p), key.Authorized, 80, 22)
	if err != nil {
		return PlatformResult{}, err
	}
	defer g.Close()
	r, err := BootGuest(ctx, g, key)
	if r.Machine != nil {
		defer r.Machine.Kill()
	}
	if err != nil {
		return r, fmt.Errorf("%w (console: %s)", err, r.Machine.ConsolePath())
	}
	if errs := CheckFacts(g, r); len(errs) > 0 {
		return r, errors.Join(errs...)
	}
	return r, shutdown(ctx, r.Machine)
}

// CheckFacts checks what every platform's machine must show: the root is
// the read-only erofs on the dm-verity device, /var is writable, the host
// name is the metadata's, the root disk's controller and the NIC are
// driven by the platform's drivers, the platform's own metadata source
// configured the machine and its fake saw no protocol violation (for
// Azure: the wire server got the Ready report).
func CheckFacts(g *Guest, r PlatformResult) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{g.Platform}, args...)...))
	}
	hw := Hardwares[g.Platform]
	f := r.Facts
	if root := strings.Fields(f["root"]); len(root) < 3 || !(strings.HasPrefix(root[0], "/dev/mapper/") || strings.HasPrefix(root[0], "/dev/dm-")) || root[1] != "erofs" || !strings.HasPrefix(root[2], "ro") {
		bad("/ is %q, want the read-only erofs on a device-mapper device", f["root"])
	}
	if !strings.Contains(f["verity"], "HARDVM-VERITY-") {
		bad("the root's device-mapper device is %q, not dm-verity", f["verity"])
	}
	if f["var"] != "ok" {
		bad("/var is not writable: %q", f["var"])
	}
	if f["hostname"] != g.Hostname {
		bad("hostname %q, the metadata's is %q", f["hostname"], g.Hostname)
	}
	switch hw.Driver {
	case "nvme":
		if !strings.Contains(f["disk"], "nvme0") {
			bad("no NVMe controller in the machine: %q", f["disk"])
		}
	case "virtio_blk":
		n := 0
		if l := strings.Fields(f["disk"]); len(l) > 0 {
			n, _ = strconv.Atoi(l[len(l)-1])
		}
		if n < 1 {
			bad("no virtio-blk disk: %q", f["disk"])
		}
	default:
		if !strings.Contains(f["disk"], hw.Driver) {
			bad("the SCSI hosts are %q, want %s", f["disk"], hw.Driver)
		}
	}
	if !strings.Contains(f["nic"], hw.Net) {
		bad("the NICs are driven by %q, want %s", f["nic"], hw.Net)
	}
	want := map[vm.Cloud]string{vm.AWS: "ec2", vm.GCP: "gce", vm.Azure: "azure", vm.VMware: "guestinfo", vm.Nutanix: "configdrive", vm.QEMU: "nocloud"}[g.Platform]
	var inst struct {
		Source string `json:"source"`
		Keys   int    `json:"keys"`
	}
	if err := json.Unmarshal([]byte(f["instance"]), &inst); err != nil || inst.Source != want || inst.Keys != 1 {
		bad("first-boot agent's instance.json %q, want source %s with 1 key", f["instance"], want)
	}
	for _, v := range g.Violations() {
		bad("metadata protocol violation: %s", v)
	}
	if g.Azure != nil && !g.Azure.IsReady() {
		bad("the wire server got no Ready health report: Azure provisioning would time out")
	}
	if g.EC2 != nil {
		if req := g.EC2.Requests(); len(req) == 0 || req[0] != "PUT /latest/api/token" {
			bad("IMDS requests %v, want PUT /latest/api/token first", req)
		}
	}
	return errs
}
