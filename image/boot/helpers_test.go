package boot_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// imageRootfs lays out the rootfs an image with a kernel has: busybox and
// an init that prints the marker, the Debian kernel image with the modules
// the initramfs needs (a minimal kernel package, as linux-virt is), and the
// systemd EFI stub. It returns the directory.
func imageRootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	kernelTree := boottest.KernelTree(t)
	kroot := os.DirFS(kernelTree)
	k, err := boot.FindKernel(kroot, "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := boot.WriteInitramfs(context.Background(), io.Discard, kroot)
	if err != nil {
		t.Fatal(err)
	}
	copyFile := func(from, to string, mode os.FileMode) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range append(info.Modules, k.Image, k.Modules+"/modules.builtin") {
		copyFile(filepath.Join(kernelTree, m), m, 0o644)
	}
	copyFile(boottest.Busybox(t), "bin/busybox", 0o755)
	stub := filepath.Join(t.TempDir(), "stub")
	if err := os.WriteFile(stub, boottest.Stub(t), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(stub, "usr/lib/systemd/boot/efi/linuxx64.efi.stub", 0o644)
	for _, d := range []string{"dev", "proc", "sys", "sbin", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "sbin/init"), []byte("#!/bin/busybox sh\n/bin/busybox echo '"+marker+"'\n/bin/busybox poweroff -f\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte("ID=hardvm\nNAME=hardvm\nVARIANT_ID=base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assembleBootable is the pipeline's boot step: Assemble once to learn the
// root hash (the ESP does not enter it), build the UKI for that hash, and
// Assemble again with the UKI on the ESP.
func assembleBootable(t *testing.T, root string, out string, opts ...boot.Option) *image.Disk {
	t.Helper()
	ctx := context.Background()
	rootFS := os.DirFS(root)
	layout := image.Layout{Arch: vm.X86_64, Seed: "boot-test", SourceDateEpoch: 1700000000, ESPSize: 40 << 20}
	first, err := image.Assemble(ctx, rootFS, layout, out)
	if err != nil {
		t.Fatal(err)
	}
	esp, err := boot.ESP(ctx, rootFS, first.RootHash, append([]boot.Option{boot.WithSourceDateEpoch(layout.SourceDateEpoch)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	layout.ESP = esp
	d, err := image.Assemble(ctx, rootFS, layout, out)
	if err != nil {
		t.Fatal(err)
	}
	if d.RootHash != first.RootHash {
		t.Fatalf("root hash changed with the ESP: %s then %s", first.RootHash, d.RootHash)
	}
	return d
}

// TestBootAssembled is the proof that hardvm's images boot: the rootfs
// carries the Debian kernel and systemd stub, boot.ESP builds the UKI,
// image.Assemble writes the disk (hardvm's own erofs, verity, FAT and GPT),
// image.Export writes the qcow2; OVMF loads the UKI, our init opens the root
// through dm-verity and runs the image's init, which prints the marker.
// With one flipped byte in the root partition it must not reach the marker
// and must show the verity error. Boot times are logged (TCG, no KVM).
func TestBootAssembled(t *testing.T) {
	testtool.Require(t, "qemu-system-x86_64", "qemu-img")
	root := imageRootfs(t)
	dir := t.TempDir()
	d := assembleBootable(t, root, filepath.Join(dir, "disk.raw"))
	t.Logf("disk: %d bytes, root hash %s, partitions %+v", d.Size, d.RootHash, d.Partitions)

	t.Run("raw", func(t *testing.T) {
		r := boottest.Boot(t, d.Path, "raw", marker, bootFailures, 4*time.Minute)
		if r.Failed || r.Matched == "" {
			t.Fatalf("raw disk did not boot to the marker: %v", r)
		}
		if !strings.Contains(r.Console, "hardvm-init: root verified") || !strings.Contains(r.Console, d.RootHash) {
			t.Errorf("the marker came without the init verifying the root against %s", d.RootHash)
		}
		t.Logf("BOOT TIME assembled raw (TCG, QEMU start to marker): %v", r.Elapsed.Round(time.Millisecond))
	})
	t.Run("qcow2", func(t *testing.T) {
		a, err := image.Export(context.Background(), d, vdisk.QCOW2{}, filepath.Join(dir, "disk.qcow2"))
		if err != nil {
			t.Fatal(err)
		}
		testtool.Run(t, "qemu-img", "check", a.Path)
		r := boottest.Boot(t, a.Path, "qcow2", marker, bootFailures, 4*time.Minute)
		if r.Failed || r.Matched == "" {
			t.Fatalf("qcow2 disk did not boot to the marker: %v", r)
		}
		t.Logf("BOOT TIME assembled qcow2 (TCG): %v", r.Elapsed.Round(time.Millisecond))
	})
	t.Run("tampered", func(t *testing.T) {
		var rootPart image.Partition
		for _, p := range d.Partitions {
			if strings.HasPrefix(p.Name, "root-") && !strings.Contains(p.Name, "verity") {
				rootPart = p
			}
		}
		if rootPart.Size == 0 {
			t.Fatalf("no root partition in %+v", d.Partitions)
		}
		bad := filepath.Join(dir, "tampered.raw")
		b, err := os.ReadFile(d.Path)
		if err != nil {
			t.Fatal(err)
		}
		// One flipped byte inside the erofs image (its first MiB holds the
		// superblock, inodes and busybox's first blocks).
		b[rootPart.Offset+4096+123] ^= 0x01
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r := boottest.Boot(t, bad, "raw", marker, bootFailures, 4*time.Minute)
		if !r.Failed || strings.Contains(r.Console, marker) {
			t.Fatalf("tampered root: %v; want the verity failure and no marker", r)
		}
		if !strings.Contains(r.Console, "VERITY FAILURE") {
			t.Fatalf("tampered root failed without the verity message: %v", r)
		}
		t.Logf("tampered root refused after %v", r.Elapsed.Round(time.Millisecond))
	})
}
