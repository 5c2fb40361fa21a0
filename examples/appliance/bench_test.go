package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/pe"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/internal/vmtest/guest"
	"github.com/hardvm/hardvm/vm"
)

// BenchmarkBootToService is issue 22's boot to service: the nginx
// appliance for qemu/x86_64 boots from an overlay of its disk.raw with a
// NoCloud seed, one virtual CPU and 1 GiB (as TestAppliancesBoot's
// machines), and the benchmark reports, per variant of the init's
// dm-verity check mode:
//
//   - s-to-service: QEMU's start to nginx's page (GET / = 200 through the
//     forwarded port), seen from the host;
//   - s-in-initramfs: the kernel's "Run /init as init process" to the
//     first message of systemd (PID 1 on the real root), both stamped by
//     the kernel on the serial console;
//   - s-full-read and s-full-read/GiB (check=full only): what the init
//     logs for its read of the whole root through dm-verity before
//     mounting it, and that per GiB of root;
//   - MiB-root-read: what the machine had read of its root device
//     (/sys/block/dm-0/stat, over SSH once systemd is running): all of it
//     with check=full, what booting to nginx needs with check=lazy. The
//     full check's net cost is the read of the rest.
//
// check=full is the image as built. check=lazy is the same disk with one
// change: its UKI rebuilt (boot.UKI) from the built UKI's own sections
// and stub with hardvm.verity=check=lazy added to the command line, after
// the same rebuild without the change gave the built UKI byte for byte.
// The UKI is not signed for Secure Boot here, so the edited one boots.
//
// Run it alone (each boot takes 45-55 s under software emulation):
//
//	go test ./examples/appliance -run '^$' -bench BootToService -benchtime 1x
//
// The accelerator is KVM where vmtest's probe sees OVMF run under it,
// software emulation (TCG) otherwise; it is logged.
func BenchmarkBootToService(b *testing.B) {
	testtool.Require(b, "qemu-system-x86_64", "qemu-img", "mcopy", "cp", "dpkg-deb")
	repo, key := repository(b)
	ctx := context.Background()
	dir := b.TempDir()
	o, err := Build(ctx, repo, "nginx", filepath.Join(dir, "nginx"), discard())
	if err != nil {
		b.Fatal(err)
	}
	lazy := lazyDisk(b, ctx, o, filepath.Join(dir, "lazy"))
	kvm, why := vmtest.KVMUsable()
	_, accel := guest.Accel()
	b.Logf("accelerator %s (KVM usable: %v, %s)", accel, kvm, why)
	for _, v := range []struct{ mode, disk string }{{"full", o.Disk.Path}, {"lazy", lazy}} {
		b.Run("check="+v.mode, func(b *testing.B) {
			var service, initramfs, read time.Duration
			var readBytes, rootRead int64
			for i := range b.N {
				r := bootToService(b, ctx, v.disk, filepath.Join(dir, v.mode, strconv.Itoa(i)), key)
				if (r.readBytes > 0) != (v.mode == "full") || !strings.Contains(r.console, map[string]string{"full": "hardvm-init: root verified: ", "lazy": "(check=lazy)"}[v.mode]) {
					b.Fatalf("the init did not run check=%s (read %d bytes ahead):\n%s", v.mode, r.readBytes, vmtest.Tail(r.console, 40))
				}
				service += r.service
				initramfs += r.initramfs
				read += r.read
				readBytes = r.readBytes
				rootRead += r.rootRead
				b.Logf("check=%s: service after %v, %v in the initramfs, full read %v of %d bytes, %d bytes of the root read once running", v.mode,
					r.service.Round(time.Millisecond), r.initramfs.Round(time.Millisecond), r.read, r.readBytes, r.rootRead)
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(service.Seconds()/n, "s-to-service")
			b.ReportMetric(initramfs.Seconds()/n, "s-in-initramfs")
			b.ReportMetric(float64(rootRead)/n/(1<<20), "MiB-root-read")
			if readBytes > 0 {
				b.ReportMetric(read.Seconds()/n, "s-full-read")
				b.ReportMetric(read.Seconds()/n/(float64(readBytes)/(1<<30)), "s-full-read/GiB")
			}
		})
	}
}

// bootResult is what one boot to service showed.
type bootResult struct {
	service, initramfs, read time.Duration
	readBytes, rootRead      int64
	console                  string
}

var (
	kernelStamp = regexp.MustCompile(`^\[\s*(\d+\.\d+)\] (.*)$`)
	fullRead    = regexp.MustCompile(`hardvm-init: root verified: (\d+) bytes in (\S+)`)
)

// bootToService boots an overlay of disk (raw) in dir until nginx's page
// answers, and reads the console's stamps.
func bootToService(b *testing.B, ctx context.Context, disk, dir string, key *vmtest.Key) bootResult {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	overlay := filepath.Join(dir, "machine.qcow2")
	if err := guest.Overlay(disk, "raw", overlay); err != nil {
		b.Fatal(err)
	}
	seed := filepath.Join(dir, "seed.img")
	if err := Seed(ctx, seed, "bench", key.Authorized); err != nil {
		b.Fatal(err)
	}
	m, err := Start(overlay, seed, dir, guest.NewUUID(), 1, 80, 22)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Kill()
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	at, err := WaitNginx(bctx, m)
	if err != nil {
		b.Fatalf("%v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 40))
	}
	r := bootResult{service: at.Sub(m.Started())}
	s, err := Running(bctx, m, key)
	if err != nil {
		b.Fatalf("%v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 40))
	}
	defer s.Close()
	// The init's dm-verity device is the machine's only device-mapper
	// device; the third field of a block device's stat is the sectors read.
	stat, err := s.Run(bctx, "cat /sys/block/dm-0/dm/name /sys/block/dm-0/stat")
	if f := strings.Fields(stat); err != nil || len(f) < 4 || f[0] != "root" {
		b.Fatalf("the root device's stat: %q (%v)", stat, err)
	} else if r.rootRead, err = strconv.ParseInt(f[3], 10, 64); err != nil {
		b.Fatalf("the root device's stat: %q", stat)
	}
	r.rootRead *= 512
	r.console = m.Console()
	var runInit, systemd float64 = -1, -1
	for _, l := range strings.Split(r.console, "\n") {
		l = strings.TrimRight(l, "\r")
		if s := fullRead.FindStringSubmatch(l); s != nil {
			r.readBytes, _ = strconv.ParseInt(s[1], 10, 64)
			if r.read, err = time.ParseDuration(s[2]); err != nil {
				b.Fatalf("the init's line %q: %v", l, err)
			}
		}
		s := kernelStamp.FindStringSubmatch(l)
		if s == nil {
			continue
		}
		t, _ := strconv.ParseFloat(s[1], 64)
		switch {
		case runInit < 0 && strings.HasPrefix(s[2], "Run /init as init process"):
			runInit = t
		case systemd < 0 && runInit >= 0 && strings.HasPrefix(s[2], "systemd[1]: "):
			systemd = t
		}
	}
	if runInit < 0 || systemd < 0 {
		b.Fatalf("no kernel-stamped \"Run /init\" (%v) or systemd[1] line (%v) on the console:\n%s", runInit, systemd, vmtest.Tail(r.console, 60))
	}
	r.initramfs = time.Duration((systemd - runInit) * float64(time.Second))
	return r
}

// lazyDisk writes dir/lazy.raw: a sparse copy of o's disk.raw whose UKI
// has hardvm.verity=check=lazy on its command line, and nothing else
// changed. The UKI is rebuilt with boot.UKI from the built UKI's sections
// and the EFI stub of the Debian package systemd-boot-efi the image was
// built from; the rebuild without the change must give the built UKI.
func lazyDisk(b *testing.B, ctx context.Context, o *hardvm.Output, dir string) string {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var esp int64 = -1
	for _, p := range o.Disk.Partitions {
		if p.Name == "esp" {
			esp = p.Offset
		}
	}
	if esp < 0 {
		b.Fatalf("no ESP in %+v", o.Disk.Partitions)
	}
	loader := "::" + vm.X86_64.DefaultLoader()
	built := filepath.Join(dir, "built.efi")
	testtool.Run(b, "mcopy", "-n", "-i", o.Disk.Path+"@@"+strconv.FormatInt(esp, 10), loader, built)
	img, err := os.ReadFile(built)
	if err != nil {
		b.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(img))
	if err != nil {
		b.Fatalf("the built UKI: %v", err)
	}
	section := func(name string) []byte {
		s := f.Section(name)
		if s == nil {
			b.Fatalf("the built UKI has no %s section", name)
		}
		d, err := s.Data()
		if err != nil {
			b.Fatal(err)
		}
		return d[:min(len(d), int(s.VirtualSize))]
	}
	u := boot.UKI{Stub: efiStub(b, ctx), Linux: section(".linux"), Initrd: section(".initrd"), Cmdline: string(section(".cmdline")),
		OSRelease: section(".osrel"), Uname: string(section(".uname"))}
	again, err := u.Build()
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(again, img) {
		b.Fatalf("the UKI rebuilt from the built UKI's sections differs from it (%d and %d bytes): a check=lazy variant would differ in more than its command line", len(again), len(img))
	}
	m := regexp.MustCompile(`roothash=([0-9a-f]+)`).FindStringSubmatch(u.Cmdline)
	if m == nil {
		b.Fatalf("no roothash= in %q", u.Cmdline)
	}
	full, err := boot.Cmdline(m[1])
	if err != nil {
		b.Fatal(err)
	}
	lazyArgs, err := boot.Cmdline(m[1], boot.WithLazyVerityUnsafe())
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(u.Cmdline, full) || strings.Contains(u.Cmdline, "hardvm.verity=") {
		b.Fatalf("the built command line %q does not hold %q, or already sets hardvm.verity", u.Cmdline, full)
	}
	u.Cmdline = strings.Replace(u.Cmdline, full, lazyArgs, 1)
	lazy, err := u.Build()
	if err != nil {
		b.Fatal(err)
	}
	uki := filepath.Join(dir, "lazy.efi")
	if err := os.WriteFile(uki, lazy, 0o644); err != nil {
		b.Fatal(err)
	}
	disk := filepath.Join(dir, "lazy.raw")
	testtool.Run(b, "cp", "--sparse=always", o.Disk.Path, disk)
	testtool.Run(b, "mcopy", "-o", "-i", disk+"@@"+strconv.FormatInt(esp, 10), uki, loader)
	b.Logf("check=lazy variant: command line %q", u.Cmdline)
	return disk
}

// efiStub returns systemd-stub for x86_64 from the Debian package
// systemd-boot-efi in internal/debrepo's cache: the stub the image's
// UKI was built with.
func efiStub(b *testing.B, ctx context.Context) []byte {
	b.Helper()
	debs, _ := filepath.Glob(filepath.Join(debrepo.CacheDir(), "systemd-boot-efi_*_amd64.deb"))
	if len(debs) == 0 {
		b.Fatalf("%v: systemd-boot-efi (amd64)", debrepo.ErrMissing)
	}
	sort.Strings(debs)
	out, err := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", debs[len(debs)-1]).Output()
	if err != nil {
		b.Fatalf("dpkg-deb --fsys-tarfile %s: %v", debs[len(debs)-1], err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			b.Fatalf("%s has no linuxx64.efi.stub: %v", debs[len(debs)-1], err)
		}
		if strings.TrimPrefix(h.Name, ".") == "/usr/lib/systemd/boot/efi/linuxx64.efi.stub" {
			stub, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				b.Fatal(err)
			}
			return stub
		}
	}
}
