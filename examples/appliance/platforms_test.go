package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// TestPlatformsBoot is issue 16's proof for each platform, one machine
// after another: the nginx appliance is built for the platform (its
// initramfs with the platform's drivers only), exported in the format the
// platform imports, unpacked as the platform does (disk.raw from GCE's
// tar.gz, the VMDK from the OVA), and booted on the platform's virtual
// hardware (Hardwares: NVMe for aws, virtio-scsi for gcp and nutanix,
// pvscsi and vmxnet3 for vmware) with the platform's metadata: fakes of
// IMDSv2, the GCE metadata server, Azure's IMDS and wire server (built
// from the documented wire formats: they check every request and refuse
// IMDSv1 and headerless requests), VMware guestinfo through fw_cfg, a
// config drive made by genisoimage. Each machine must answer with nginx's
// page, reach systemd's "running" for the login user whose only key came
// from that metadata, mount its root from the dm-verity device with /var
// writable, take its host name from the metadata, and have the platform's
// drivers bound to its disk controller and NIC. The Azure image boots on
// NVMe (QEMU has no VMBus) and must send the wire server the Ready report
// that ends provisioning; its UKI's initramfs must carry hv_storvsc and
// hv_netvsc. The qemu row (virtio-blk, NoCloud) is TestAppliancesBoot's.
// What rests on stand-ins: the metadata fakes, and QEMU's devices for the
// clouds' (virtio-net for ENA, gVNIC and Azure's NICs).
func TestPlatformsBoot(t *testing.T) {
	testtool.Require(t, "qemu-system-x86_64", "qemu-img", "tar", "genisoimage", "mcopy", "objcopy", "cpio")
	repo, key := repository(t)
	work := t.TempDir()
	// Each platform's machine boots while the next platform's image is
	// built (a machine has one virtual CPU); a platform left out by -run
	// is not booted, and built only when it follows one that is.
	ctx, cancel := context.WithCancel(context.Background())
	type build struct {
		o    *hardvm.Output
		err  error
		took time.Duration
	}
	platforms := []vm.Cloud{vm.AWS, vm.GCP, vm.VMware, vm.Nutanix, vm.Azure}
	builds := make([]chan build, len(platforms))
	var pending sync.WaitGroup
	start := func(i int) {
		if i >= len(platforms) || builds[i] != nil {
			return
		}
		builds[i] = make(chan build, 1)
		pending.Add(1)
		go func() {
			defer pending.Done()
			t0 := time.Now()
			o, err := BuildFor(ctx, PlatformSpec(repo, "nginx", platforms[i], vm.X86_64), filepath.Join(work, string(platforms[i])), discard())
			builds[i] <- build{o, err, time.Since(t0)}
		}()
	}
	defer func() { cancel(); pending.Wait() }()
	for i, p := range platforms {
		ok := t.Run(string(p), func(t *testing.T) {
			start(i)
			b := <-builds[i]
			start(i + 1)
			if b.err != nil {
				t.Fatal(b.err)
			}
			o := b.o
			t.Logf("BUILD TIME nginx for %s: %v", p, b.took.Round(100*time.Millisecond))
			if p == vm.Azure {
				azureInitramfs(t, ctx, o, filepath.Join(work, "azure-uki"))
			}
			hostname := "web-" + string(p)
			g, err := NewGuest(ctx, o, p, vm.X86_64, filepath.Join(work, string(p), "machine"), hostname, key.Authorized, 80, 22)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			r, err := BootGuest(ctx, g, key)
			if r.Machine != nil {
				defer r.Machine.Kill()
			}
			if err != nil {
				t.Fatalf("%v\nconsole:\n%s", err, tail(r.Machine.Console(), 60))
			}
			t.Logf("BOOT TIME nginx on %s (%s, %d vCPU): page after %v, login after %v; facts %q", p, r.Accel, g.Config.CPUs,
				r.Nginx.Round(100*time.Millisecond), r.Login.Round(100*time.Millisecond), r.Facts)
			for _, err := range CheckFacts(g, r) {
				t.Error(err)
			}
			pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			if err := r.Machine.PowerOff(pctx); err != nil {
				t.Errorf("power off: %v", err)
			}
		})
		if !ok {
			t.Logf("%s failed; the next platforms still boot", p)
		}
	}
}

// azureInitramfs takes the UKI out of the VHD's ESP with mtools, its
// initramfs out of the UKI with objcopy, lists it with cpio and requires
// Hyper-V's storage, network and VMBus drivers, and no other platform's
// controller driver.
func azureInitramfs(t *testing.T, ctx context.Context, o *hardvm.Output, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var vhd string
	for _, a := range o.Artifacts {
		if a.Format == vm.FormatVHD {
			vhd = a.Path
		}
	}
	var espOff int64 = -1
	for _, p := range o.Disk.Partitions {
		if p.Name == "esp" {
			espOff = p.Offset
		}
	}
	if vhd == "" || espOff < 0 {
		t.Fatalf("no VHD (%q) or no ESP partition in %+v", vhd, o.Disk.Partitions)
	}
	uki := filepath.Join(dir, "uki.efi")
	run := func(name string, args ...string) string {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	// A fixed VHD is the raw disk and a footer: the ESP sits at the same
	// offset as in disk.raw.
	run("mcopy", "-n", "-i", vhd+"@@"+strconv.FormatInt(espOff, 10), "::"+vm.X86_64.DefaultLoader(), uki)
	initrd := filepath.Join(dir, "initrd.cpio")
	run("objcopy", "-O", "binary", "--only-section=.initrd", uki, initrd)
	cmd := exec.CommandContext(ctx, "cpio", "-t", "--quiet", "-F", initrd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	listing := string(out)
	for _, m := range []string{"hv_storvsc.ko", "hv_netvsc.ko", "hv_vmbus.ko", "scsi_transport_fc.ko", "sd_mod.ko", "nvme.ko", "mana.ko", "dm-verity.ko", "erofs.ko"} {
		if !strings.Contains(listing, "/"+m+"\n") {
			t.Errorf("the Azure VHD's initramfs lacks %s:\n%s", m, listing)
		}
	}
	for _, m := range []string{"vmw_pvscsi.ko", "virtio_scsi.ko", "ena.ko", "gve.ko", "vmxnet3.ko", "virtio_blk.ko"} {
		if strings.Contains(listing, "/"+m+"\n") {
			t.Errorf("the Azure VHD's initramfs carries %s, another platform's driver", m)
		}
	}
}

// TestPlatformsBootAarch64 is the aarch64 row: the nginx appliance for
// qemu/aarch64, from Debian's arm64 packages (kernel, systemd, OpenSSH,
// nginx; HARDVM_BOOT_ARCH=arm64 scripts/fetch-boot-packages.sh), boots
// under qemu-system-aarch64 -M virt with AAVMF and software emulation,
// console ttyAMA0, and must show what every platform's machine shows
// (CheckFacts) with the key from its NoCloud seed.
func TestPlatformsBootAarch64(t *testing.T) {
	testtool.Require(t, "qemu-system-aarch64", "qemu-img", "mke2fs", "dpkg-deb", "depmod")
	ctx := context.Background()
	repo, err := debrepo.Open(ctx, debrepo.WithArch(vm.Aarch64))
	if err != nil {
		t.Fatal(err)
	}
	_, key := repository(t)
	work := t.TempDir()
	start := time.Now()
	o, err := BuildFor(ctx, PlatformSpec(repo, "nginx", vm.QEMU, vm.Aarch64), filepath.Join(work, "qemu-aarch64"), discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BUILD TIME nginx for qemu/aarch64: %v", time.Since(start).Round(100*time.Millisecond))
	g, err := NewGuest(ctx, o, vm.QEMU, vm.Aarch64, filepath.Join(work, "machine"), "web-arm", key.Authorized, 80, 22)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r, err := BootGuest(ctx, g, key)
	if r.Machine != nil {
		defer r.Machine.Kill()
	}
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, tail(r.Machine.Console(), 60))
	}
	t.Logf("BOOT TIME nginx on qemu/aarch64 (%s, %d vCPUs): page after %v, login after %v", r.Accel, g.Config.CPUs,
		r.Nginx.Round(100*time.Millisecond), r.Login.Round(100*time.Millisecond))
	for _, err := range CheckFacts(g, r) {
		t.Error(err)
	}
	if !strings.Contains(r.Machine.Console(), "hardvm-init: switching to /sbin/init") {
		t.Error("the console (ttyAMA0) did not show the init's messages")
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := r.Machine.PowerOff(pctx); err != nil {
		t.Errorf("power off: %v", err)
	}
}
