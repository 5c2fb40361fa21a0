package firstboot

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// The committed agent in a real Linux guest: Debian's kernel boots under
// QEMU (software emulation, direct kernel boot) with the seed
// WriteNoCloudSeed wrote as a second virtio-blk disk, exactly as
// `hardvm run --ssh-key` attaches it. The agent finds the CIDATA volume by
// scanning /sys/class/block, reads it from the raw device, calls the real
// sethostname and writes the keys. What stands in for an image: a
// busybox /init (Debian's busybox-static) instead of systemd, and the
// initramfs's tmpfs instead of /var; the full systemd boot is the image
// tests' (images-run).
func TestAgentInLinuxGuest(t *testing.T) {
	qemu := testtool.Require(t, "qemu-system-x86_64")
	ktree := boottest.KernelTree(t)
	busybox, err := os.ReadFile(boottest.Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	agentBin, err := Program(vm.X86_64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.img")
	if err := WriteNoCloudSeedFile(t.Context(), seed, Seed{Hostname: "guest-7", AuthorizedKeys: []string{testKeyEd25519, testKeyECDSA}, UserData: []byte("ECS_CLUSTER=demo\n")}); err != nil {
		t.Fatal(err)
	}

	// hardvm's initramfs for the modules (virtio_pci, virtio_blk and
	// their dependencies), then a second archive that replaces /init:
	// the kernel unpacks concatenated archives in order.
	var initrd bytes.Buffer
	info, err := boot.WriteInitramfs(context.Background(), &initrd, os.DirFS(ktree), boot.WithModules("virtio_pci", "virtio_blk"))
	if err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(grep -v '^#' /etc/hardvm/modules); do insmod "$m"; done
/firstboot --source nocloud --user ops --wait 10s
echo "AGENT-EXIT=$?"
echo "HOSTNAME=$(hostname)"
sed 's/^/KEYS: /' /var/lib/hardvm/ssh/ops/authorized_keys
echo "MODES=$(stat -c %a:%u /var/lib/hardvm/ssh/ops/authorized_keys) $(stat -c %a /run/hardvm/firstboot/user-data)"
echo "INSTANCE=$(tr -d '\n ' < /run/hardvm/firstboot/instance.json)"
echo FIRSTBOOT-GUEST-DONE
poweroff -f
`
	cw := boot.NewCPIOWriter(&initrd, 0)
	for _, e := range []struct {
		name string
		mode os.FileMode
		data []byte
	}{
		{"bin", os.ModeDir | 0o755, nil},
		{"tmp", os.ModeDir | 0o755, nil},
		{"init", 0o755, []byte(script)},
		{"bin/busybox", 0o755, busybox},
		{"firstboot", 0o755, agentBin},
	} {
		if err := cw.WriteEntry(boot.CPIOEntry{Name: e.name, Mode: e.mode, Size: int64(len(e.data))}, bytes.NewReader(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	initrdPath := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrdPath, initrd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// A first disk that is not a seed: the agent must scan past it.
	decoy := filepath.Join(dir, "decoy.img")
	if err := os.WriteFile(decoy, bytes.Repeat([]byte("not a file system "), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "q35,accel=tcg", "-m", "512", "-smp", "1",
		"-kernel", filepath.Join(ktree, info.Kernel.Image), "-initrd", initrdPath,
		"-append", "console=ttyS0 panic=-1 quiet",
		"-drive", "if=virtio,format=raw,readonly=on,file="+decoy,
		"-drive", "if=virtio,format=raw,readonly=on,file="+seed,
		"-nic", "none", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot")
	out, err := cmd.CombinedOutput()
	console := string(out)
	if err != nil || !strings.Contains(console, "FIRSTBOOT-GUEST-DONE") {
		t.Fatalf("guest did not finish (%v):\n%s", err, console)
	}
	for _, want := range []string{
		"AGENT-EXIT=0",
		"HOSTNAME=guest-7",
		"KEYS: " + testKeyEd25519,
		"KEYS: " + testKeyECDSA,
		"MODES=644:0 600",
		`INSTANCE={"source":"nocloud","instance_id":"iid-hardvm-`,
		`msg="metadata volume found" label=cidata device=/dev/vdb`,
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}
}
