package boot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/internal/testtool"
)

// marker is what the image's own init prints once it runs from the
// verified root.
const marker = "HARDVM-MARKER: image init running from the verified root"

// tcgCmdline is what the tests add to the kernel command line: on a loaded
// host, software emulation can be too slow for the kernel's IO-APIC timer
// check, which then panics; cloud images pass no_timer_check for the same
// reason.
var tcgCmdline = boot.WithCmdline("no_timer_check")

var bootFailures = []string{"VERITY FAILURE", "hardvm-init: FATAL", "Kernel panic", "Failed to execute", "System halted"}

// DPS type GUIDs (x86-64 root and root-verity).
const (
	dpsRoot       = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
	dpsRootVerity = "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"
)

// testDisk builds a bootable disk with the real tools, independent of
// hardvm's own erofs/verity/GPT/FAT writers: busybox root as erofs
// (mkfs.erofs), dm-verity (veritysetup format), ESP (mkfs.vfat + mcopy)
// holding our UKI, GPT (sgdisk) with DPS types and the DPS verity partition
// UUIDs. It returns the disk path and the root partition's byte range.
func testDisk(t *testing.T) (disk string, rootOff, rootSize int64) {
	t.Helper()
	testtool.Require(t, "mkfs.erofs", "veritysetup", "sgdisk", "mkfs.vfat", "mcopy", "mmd")
	dir := t.TempDir()
	rootDir := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "sbin", "dev", "proc", "sys", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile(boottest.Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	write := func(p string, b []byte, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(rootDir, p), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/busybox", bb, 0o755)
	write("sbin/init", []byte("#!/bin/busybox sh\n/bin/busybox echo '"+marker+"'\n/bin/busybox poweroff -f\n"), 0o755)
	write("etc/os-release", []byte("ID=hardvm-boot-test\nNAME=\"hardvm boot test\"\n"), 0o644)

	erofs := filepath.Join(dir, "root.erofs")
	testtool.Run(t, "mkfs.erofs", "--quiet", "-T", "1700000000", erofs, rootDir)
	hash := filepath.Join(dir, "root.verity")
	out := testtool.Run(t, "veritysetup", "format", erofs, hash)
	m := regexp.MustCompile(`Root hash:\s+([0-9a-f]{64})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("veritysetup format:\n%s", out)
	}
	rootHash := m[1]

	osrel, _ := os.ReadFile(filepath.Join(rootDir, "etc/os-release"))
	uki, err := boot.BuildUKI(context.Background(), os.DirFS(boottest.KernelTree(t)), rootHash,
		boot.WithStub(boottest.Stub(t)), boot.WithOSRelease(osrel), boot.WithSourceDateEpoch(1700000000), tcgCmdline)
	if err != nil {
		t.Fatal(err)
	}
	ukiPath := filepath.Join(dir, "uki.efi")
	if err := os.WriteFile(ukiPath, uki, 0o644); err != nil {
		t.Fatal(err)
	}
	esp := filepath.Join(dir, "esp.img")
	const espMiB = 40
	testtool.Run(t, "mkfs.vfat", "-C", esp, fmt.Sprint(espMiB*1024))
	testtool.Run(t, "mmd", "-i", esp, "::EFI", "::EFI/BOOT")
	testtool.Run(t, "mcopy", "-i", esp, ukiPath, "::"+boot.ESPLoaderPath("x86_64"))

	const mib = 1 << 20
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return (fi.Size() + mib - 1) / mib * mib
	}
	rootSize, hashSize := size(erofs), size(hash)
	espOff := int64(mib)
	rootOff = espOff + espMiB*mib
	hashOff := rootOff + rootSize
	total := hashOff + hashSize + mib
	disk = filepath.Join(dir, "disk.raw")
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(total); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		path string
		off  int64
	}{{esp, espOff}, {erofs, rootOff}, {hash, hashOff}} {
		b, err := os.ReadFile(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b, p.off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	uuid := func(h string) string {
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	sec := func(b int64) string { return fmt.Sprint(b / 512) }
	testtool.Run(t, "sgdisk",
		"-n", "1:"+sec(espOff)+":"+sec(rootOff-1), "-t", "1:ef00", "-c", "1:esp",
		"-n", "2:"+sec(rootOff)+":"+sec(hashOff-1), "-t", "2:"+dpsRoot, "-u", "2:"+uuid(rootHash[:32]), "-c", "2:root-x86-64",
		"-n", "3:"+sec(hashOff)+":"+sec(hashOff+hashSize-1), "-t", "3:"+dpsRootVerity, "-u", "3:"+uuid(rootHash[32:]), "-c", "3:root-x86-64-verity",
		disk)
	testtool.Run(t, "sgdisk", "-v", disk)
	return disk, rootOff, rootSize
}

// TestBootOracleDisk boots a disk built only by the reference tools
// (mkfs.erofs, veritysetup, sgdisk, mkfs.vfat) with our UKI on it: the boot
// chain (UKI, initramfs, init) is proven independently of hardvm's own disk
// writers, which TestBootBaseImage (image_boot_test.go) covers.
func TestBootOracleDisk(t *testing.T) {
	testtool.Require(t, "qemu-system-x86_64")
	disk, _, _ := testDisk(t)
	r := boottest.Boot(t, disk, "raw", marker, bootFailures, 4*time.Minute)
	if r.Failed || r.Matched == "" {
		t.Fatalf("tool-built disk did not boot to the marker: %v", r)
	}
	t.Logf("BOOT TIME oracle disk, raw (TCG, QEMU start to marker): %v", r.Elapsed.Round(time.Millisecond))
	if !strings.Contains(r.Console, "hardvm-init: root verified") {
		t.Errorf("the marker came without the init verifying the root")
	}
}
