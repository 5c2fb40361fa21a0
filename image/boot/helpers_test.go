package boot_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
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
	// One pass: Assemble asks for the ESP once the root hash is known.
	var uki string
	layout.ESPFunc = func(ctx context.Context, rootHash string) (map[string][]byte, error) {
		uki = rootHash
		return boot.ESP(ctx, rootFS, rootHash, append([]boot.Option{boot.WithSourceDateEpoch(layout.SourceDateEpoch), tcgCmdline}, opts...)...)
	}
	d, err := image.Assemble(ctx, rootFS, layout, out)
	if err != nil {
		t.Fatal(err)
	}
	if d.RootHash != uki {
		t.Fatalf("the UKI was built for root hash %s, the disk has %s", uki, d.RootHash)
	}
	return d
}

// checkRootVerified fails t unless the console shows, in this order, the
// init setting up dm-verity with rootHash (its "root hash" line), the init
// reading the whole root through the verity device ("root verified"), and
// the marker the image's own init prints from that root.
func checkRootVerified(t *testing.T, console, rootHash, marker string) {
	t.Helper()
	steps := []string{", root hash " + rootHash, "hardvm-init: root verified: ", marker}
	at := 0
	for _, s := range steps {
		i := strings.Index(console[at:], s)
		if i < 0 {
			t.Errorf("the console has no %q after offset %d: the marker came without the init verifying the root against %s", s, at, rootHash)
			return
		}
		at += i + len(s)
	}
}
