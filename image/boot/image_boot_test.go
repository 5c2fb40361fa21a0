package boot_test

import (
	"context"
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

// TestBootBaseImage is the proof, end to end through the public
// pipeline: Debian's kernel, busybox-static and systemd-boot-efi repackaged
// as signed APKs (boottest.Repository), a base image for the qemu platform
// resolved and built from them (image.Resolve, image.Build), the UKI from
// the built rootfs (boot.ESP), the disk (image.Assemble) and its qcow2
// (image.Export). Both boot in QEMU+OVMF to the image's marker after the
// init set up dm-verity with the disk's root hash and read the whole root
// through it (checkRootVerified); one flipped byte in the root
// partition stops the boot with the verity error. Boot times are logged.
func TestBootBaseImage(t *testing.T) {
	testtool.Require(t, "qemu-system-x86_64", "qemu-img")
	ctx := context.Background()
	repo := boottest.Repository(t, t.TempDir())
	spec := vm.Spec{
		Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, Kernel: vm.Stable,
		Repositories:    []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}}},
		Packages:        []string{"systemd-boot-efi"},
		SourceDateEpoch: 1700000000,
	}
	lock, err := image.Resolve(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	kp, ok := lock.Kernel()
	if !ok {
		t.Fatalf("the lock has no kernel package: %+v", lock.Packages)
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
	t.Logf("kernel package %s %s, uname -r %s", kp.Name, kp.Version, kv)
	if want := kernelVersionFromDeb(t); kv != want {
		t.Errorf("KernelVersion of the built rootfs = %q, want %q", kv, want)
	}

	// The lts track picks the repository's linux-lts package instead.
	lts := spec
	lts.Kernel = vm.LTS
	ltsLock, err := image.Resolve(ctx, lts)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := ltsLock.Kernel(); !ok || k.Name != "linux-lts" {
		t.Errorf("lts track: kernel package %+v, want linux-lts", k)
	}

	dir := t.TempDir()
	layout := image.Layout{Arch: spec.Arch, Seed: "base-qemu", SourceDateEpoch: spec.SourceDateEpoch, ESPSize: 40 << 20}
	// One pass: Assemble asks for the ESP (the UKI) once the root hash is known.
	var ukiHash string
	layout.ESPFunc = func(ctx context.Context, rootHash string) (map[string][]byte, error) {
		ukiHash = rootHash
		return boot.ESP(ctx, root, rootHash, boot.WithSourceDateEpoch(spec.SourceDateEpoch), boot.WithCmdline(spec.Cmdline...), tcgCmdline)
	}
	d, err := image.Assemble(ctx, root, layout, filepath.Join(dir, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if d.RootHash != ukiHash {
		t.Fatalf("UKI built for root hash %s, disk has %s", ukiHash, d.RootHash)
	}

	t.Run("raw", func(t *testing.T) {
		r := boottest.Boot(t, d.Path, "raw", boottest.Marker, bootFailures, 4*time.Minute)
		if r.Failed || r.Matched == "" {
			t.Fatalf("base image (raw) did not boot to the marker: %v", r)
		}
		checkRootVerified(t, r.Console, d.RootHash, boottest.Marker)
		t.Logf("BOOT TIME base image raw (TCG, QEMU start to marker): %v", r.Elapsed.Round(time.Millisecond))
	})
	t.Run("qcow2", func(t *testing.T) {
		a, err := image.Export(ctx, d, vdisk.QCOW2{}, filepath.Join(dir, "disk.qcow2"))
		if err != nil {
			t.Fatal(err)
		}
		r := boottest.Boot(t, a.Path, "qcow2", boottest.Marker, bootFailures, 4*time.Minute)
		if r.Failed || r.Matched == "" {
			t.Fatalf("base image (qcow2) did not boot to the marker: %v", r)
		}
		checkRootVerified(t, r.Console, d.RootHash, boottest.Marker)
		t.Logf("BOOT TIME base image qcow2 (TCG): %v", r.Elapsed.Round(time.Millisecond))
	})
	t.Run("tampered", func(t *testing.T) {
		var off int64 = -1
		for _, p := range d.Partitions {
			if strings.HasPrefix(p.Name, "root-") && !strings.Contains(p.Name, "verity") {
				off = p.Offset + p.Size/3
			}
		}
		if off < 0 {
			t.Fatalf("no root partition in %+v", d.Partitions)
		}
		b, err := os.ReadFile(d.Path)
		if err != nil {
			t.Fatal(err)
		}
		b[off] ^= 0x01
		bad := filepath.Join(dir, "tampered.raw")
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r := boottest.Boot(t, bad, "raw", boottest.Marker, bootFailures, 4*time.Minute)
		if !r.Failed || strings.Contains(r.Console, boottest.Marker) || !strings.Contains(r.Console, "VERITY FAILURE") {
			t.Fatalf("tampered base image: %v; want the verity failure and no marker", r)
		}
		t.Logf("tampered base image refused after %v", r.Elapsed.Round(time.Millisecond))
	})
}
