package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// lockNames returns name=version of every package of the build's lock.
func lockNames(t *testing.T, out string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, builddir.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	var l artifact.Lock
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Packages {
		names = append(names, p.Name+"="+p.Version)
	}
	slices.Sort(names)
	return names
}

// bootableBuildDir writes a build directory of a bootable image as the
// pipeline does, in process: the base variant for qemu resolved and built
// from boottest.Repository (Debian's kernel, busybox and systemd EFI stub
// as signed APKs; baselayout and systemd are test stand-ins), the UKI from
// boot.ESP on the disk's ESP (its initramfs with the default modules: the
// repository's kernel package carries no others, so the qemu platform's
// virtio_scsi would not be found by hardvm build), and the signed
// statements from builddir.Write with a generated key.
func bootableBuildDir(t *testing.T, out string) {
	t.Helper()
	ctx := context.Background()
	repo := boottest.Repository(t, filepath.Join(t.TempDir(), "repo"))
	spec := vm.Spec{
		Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, Kernel: vm.Stable,
		Repositories:    []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: "wolfi"}},
		Packages:        []string{"systemd-boot-efi"},
		SourceDateEpoch: 1700000000,
	}
	lock, err := image.Resolve(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	root, err := image.Build(ctx, lock, image.WithBuildStagingDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	kv, err := boot.KernelVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	layout := image.Layout{Arch: spec.Arch, Seed: "show", SourceDateEpoch: spec.SourceDateEpoch, ESPSize: 40 << 20}
	layout.ESPFunc = func(ctx context.Context, rootHash string) (map[string][]byte, error) {
		return boot.ESP(ctx, root, rootHash, boot.WithSourceDateEpoch(spec.SourceDateEpoch))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := image.Assemble(ctx, root, layout, filepath.Join(out, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	dg, err := provenance.FileDigest(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	ref := vm.Ref{Variant: spec.Variant, Platform: spec.Platform, Arch: spec.Arch, Kernel: spec.Kernel, Version: vm.Version{Epoch: spec.SourceDateEpoch}}
	arts := []artifact.Artifact{{Ref: ref, Format: vm.FormatRaw, Path: d.Path, Size: fi.Size(), VirtualSize: fi.Size(), Digest: dg, RootHash: d.RootHash}}
	s, err := provenance.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	if err := builddir.Write(ctx, out, builddir.Contents{Lock: lock, Artifacts: arts, Kernel: kv}, s); err != nil {
		t.Fatal(err)
	}
}

// TestShowDisk shows the raw disk of a bootable image: the packages read
// through dm-verity from the root are the lock's, the root hash is the
// UKI's, and --key checks the signed provenance first. Altered disks, other
// keys and formats show cannot read are refused; a disk without a UKI is
// read only with its signed root hash.
func TestShowDisk(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	bootableBuildDir(t, out)
	disk, key := filepath.Join(out, "disk.raw"), filepath.Join(out, "key.pub")
	want := lockNames(t, out)

	code, stdout, stderr := runCLI(t, "show", disk)
	if code != 0 {
		t.Fatalf("show DISK: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, s := range []string{"root hash from the disk's own UKI (unsigned)", "present but not checked: give --key", "(from uki)", "EFI/BOOT/BOOTX64.EFI", "roothash=", "PACKAGE"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("show DISK lacks %q:\n%s", s, stdout)
		}
	}
	code, stdout, stderr = runCLI(t, "show", "--key", key, disk)
	if code != 0 || !strings.Contains(stdout, "verified against signed provenance: the disk's digest and the root hash its UKI boots are the signed ones") {
		t.Errorf("show --key DISK: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "show", "--json", "--key", key, disk)
	if code != 0 {
		t.Fatalf("show --json DISK: exit %d\n%s", code, stderr)
	}
	checkJSON(t, "show disk", stdout, "os_release")
	var res diskShow
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Packages {
		got = append(got, p.Name+"="+p.Version)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || !res.Provenance.Verified || res.RootHashSrc != "uki" || res.UKI == nil || res.UKI.Uname == "" ||
		!res.PartitionUUIDsMatchRootHash || res.Arch != "x86_64" || len(res.Partitions) != 4 || res.OSRelease["ID"] == "" {
		t.Errorf("show --json: packages %q (want the lock's %q), %+v", got, want, res)
	}

	// Another key: the provenance check fails before the disk is read.
	other := filepath.Join(tmp, "other")
	if code, _, _ := runCLI(t, "build", "--quiet", "--spec", writeDemoSpec(t, filepath.Join(tmp, "demo")), "--out", other); code != 0 {
		t.Fatal("demo build failed")
	}
	if code, _, stderr = runCLI(t, "show", "--key", filepath.Join(other, "key.pub"), disk); code != 1 || !strings.Contains(stderr, "not verified against its signed provenance") {
		t.Errorf("show with another build's key: exit %d, want 1\n%s", code, stderr)
	}

	// One flipped byte in the installed database: without a key the
	// dm-verity check refuses it, with the key the digest does.
	b, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("P:busybox\n"))
	if i < 0 {
		t.Fatal("no busybox record in the disk")
	}
	b[i+2] ^= 1
	bad := filepath.Join(tmp, "bad.raw")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr = runCLI(t, "show", bad); code != 1 || !strings.Contains(stderr, "dm-verity: data block") {
		t.Errorf("show of a tampered disk: exit %d, want 1 with a dm-verity error\n%s", code, stderr)
	}
	if code, _, stderr = runCLI(t, "show", "--key", key, "--bundle", disk+builddir.BundleSuffix, bad); code != 1 || !strings.Contains(stderr, "not verified") {
		t.Errorf("show --key of a tampered disk: exit %d, want 1\n%s", code, stderr)
	}
	if code, _, stderr = runCLI(t, "show", "--key", key, bad); code != 1 || !strings.Contains(stderr, "no signed provenance") {
		t.Errorf("show --key without a bundle: exit %d, want 1\n%s", code, stderr)
	}

	// qcow2 (deflated), VMDK and OVA: the guest disk is read in place and
	// lists the same packages. The signed provenance is of disk.raw, so
	// --key with its bundle refuses the other files: the digest checked is
	// the file's as given.
	for _, c := range [][]string{{"qcow2", "--compress"}, {"vmdk"}, {"ova"}} {
		p := filepath.Join(tmp, "disk."+c[0])
		if code, _, stderr = runCLI(t, append([]string{"convert", "--to"}, append(c, disk, p)...)...); code != 0 {
			t.Fatalf("convert: exit %d\n%s", code, stderr)
		}
		code, stdout, stderr = runCLI(t, "show", p)
		if code != 0 || !slices.Equal(packageNames(t, stdout), want) || !strings.Contains(stdout, "("+c[0]+", ") || !strings.Contains(stdout, "roothash=") {
			t.Errorf("show of a %s: exit %d\n%s%s", c[0], code, stdout, stderr)
		}
		if code, _, stderr = runCLI(t, "show", "--key", key, "--bundle", disk+builddir.BundleSuffix, p); code != 1 || !strings.Contains(stderr, "not verified") {
			t.Errorf("show --key of a %s with the raw disk's bundle: exit %d, want 1\n%s", c[0], code, stderr)
		}
	}
	// A qcow2 of the tampered disk: dm-verity refuses it through the reader.
	badQ := filepath.Join(tmp, "bad.qcow2")
	if code, _, stderr = runCLI(t, "convert", "--to", "qcow2", bad, badQ); code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = runCLI(t, "show", badQ); code != 1 || !strings.Contains(stderr, "dm-verity: data block") {
		t.Errorf("show of a tampered qcow2: exit %d, want 1 with a dm-verity error\n%s", code, stderr)
	}
	// GCE tar.gz and a dynamic VHD (qemu-img's) are refused with the
	// command that makes them raw.
	gce := filepath.Join(tmp, "disk.tar.gz")
	if code, _, stderr = runCLI(t, "convert", "--to", "gce", disk, gce); code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = runCLI(t, "show", gce); code != 1 || !strings.Contains(stderr, "tar -xzf") {
		t.Errorf("show of a GCE image: exit %d, want 1\n%s", code, stderr)
	}
	dyn := filepath.Join(tmp, "dynamic.vhd")
	testtool.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "vpc", disk, dyn)
	if code, _, stderr = runCLI(t, "show", dyn); code != 1 || !strings.Contains(stderr, "qemu-img convert -O raw") {
		t.Errorf("show of a dynamic VHD: exit %d, want 1\n%s", code, stderr)
	}

	if code, _, stderr = runCLI(t, "show", "/dev/null"); code != 2 || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("show /dev/null: exit %d, want 2\n%s", code, stderr)
	}

	// A fixed VHD (hardvm's Azure format) is the raw disk and a footer.
	vhd := filepath.Join(tmp, "disk.vhd")
	if code, _, stderr = runCLI(t, "convert", "--to", "vhd", disk, vhd); code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "show", vhd)
	if code != 0 || !slices.Equal(packageNames(t, stdout), want) || !strings.Contains(stdout, "(vhd, ") {
		t.Errorf("show of a fixed VHD: exit %d\n%s%s", code, stdout, stderr)
	}

	// A disk without a kernel has no UKI: only its signed provenance gives
	// the root hash.
	demoDisk := filepath.Join(other, "disk.raw")
	if code, _, stderr = runCLI(t, "show", demoDisk); code != 1 || !strings.Contains(stderr, "no boot loader") {
		t.Errorf("show of a disk without a UKI: exit %d, want 1\n%s", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "show", "--unsafe-key-from-dir", demoDisk)
	if code != 0 || !strings.Contains(stdout, "the disk has no UKI") || !strings.Contains(stdout, "(from signed provenance)") {
		t.Errorf("show --key of a disk without a UKI: exit %d\n%s%s", code, stdout, stderr)
	}
	if !slices.Equal(lockNames(t, other), packageNames(t, stdout)) {
		t.Errorf("packages of the demo disk differ from its lock:\n%s", stdout)
	}
}

// packageNames reads name=version from show's table.
func packageNames(t *testing.T, out string) []string {
	t.Helper()
	_, table, ok := strings.Cut(out, "PACKAGE")
	if !ok {
		t.Fatalf("no table:\n%s", out)
	}
	var names []string
	for _, l := range strings.Split(table, "\n")[1:] {
		if f := strings.Fields(l); len(f) >= 2 {
			names = append(names, f[0]+"="+f[1])
		}
	}
	slices.Sort(names)
	return names
}
