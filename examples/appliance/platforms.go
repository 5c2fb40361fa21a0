package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/internal/vmtest/guest"
	"github.com/hardvm/hardvm/vm"
)

// NewGuest makes a machine of platform p and architecture a from the
// image o in dir (guest.New) whose login user's key is authorized and
// whose host name is hostname, with the guest ports forward forwarded.
func NewGuest(ctx context.Context, o *hardvm.Output, p vm.Cloud, a vm.Arch, dir, hostname, authorized string, forward ...int) (*guest.Guest, error) {
	return guest.New(ctx, o, guest.Spec{Platform: p, Arch: a, Dir: dir, Hostname: hostname, User: LoginUser, AuthorizedKey: authorized,
		Forward: forward, SourceDateEpoch: Epoch})
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
func BootGuest(ctx context.Context, g *guest.Guest, key *vmtest.Key) (PlatformResult, error) {
	r := PlatformResult{Accel: g.Accel, Facts: map[string]string{}}
	m, err := g.Start()
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
func CheckFacts(g *guest.Guest, r PlatformResult) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{g.Platform}, args...)...))
	}
	hw := guest.Hardwares[g.Platform]
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
