package firstboot

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/image/firstboot/firstboottest"
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
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.img")
	if err := WriteNoCloudSeedFile(t.Context(), seed, Seed{Hostname: "guest-7", AuthorizedKeys: []string{testKeyEd25519, testKeyECDSA}, UserData: []byte("ECS_CLUSTER=demo\n")}); err != nil {
		t.Fatal(err)
	}
	// A first disk that is not a seed: the agent must scan past it.
	decoy := filepath.Join(dir, "decoy.img")
	if err := os.WriteFile(decoy, bytes.Repeat([]byte("not a file system "), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `/firstboot --source nocloud --user ops --wait 10s
echo "AGENT-EXIT=$?"
echo "HOSTNAME=$(hostname)"
sed 's/^/KEYS: /' /var/lib/hardvm/ssh/ops/authorized_keys
echo "MODES=$(stat -c %a:%u /var/lib/hardvm/ssh/ops/authorized_keys) $(stat -c %a /run/hardvm/firstboot/user-data)"
echo "INSTANCE=$(tr -d '\n ' < /run/hardvm/firstboot/instance.json)"
`
	console := bootAgentGuest(t, qemu, []string{"virtio_pci", "virtio_blk"}, script,
		"-drive", "if=virtio,format=raw,readonly=on,file="+decoy,
		"-drive", "if=virtio,format=raw,readonly=on,file="+seed)
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

// bootAgentGuest boots Debian's kernel (boottest's cached package) under
// QEMU with software emulation and an initramfs of hardvm's module set
// (modules with their dependencies, boot.WriteInitramfs), busybox, the
// committed agent at /firstboot and an /init that loads the modules, runs
// script and powers off. It returns the console.
func bootAgentGuest(t *testing.T, qemu string, modules []string, script string, qemuArgs ...string) string {
	t.Helper()
	ktree := boottest.KernelTree(t)
	busybox, err := os.ReadFile(boottest.Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	agentBin, err := Program(vm.X86_64)
	if err != nil {
		t.Fatal(err)
	}
	// hardvm's initramfs for the modules, then a second archive that
	// replaces /init: the kernel unpacks concatenated archives in order.
	var initrd bytes.Buffer
	info, err := boot.WriteInitramfs(context.Background(), &initrd, os.DirFS(ktree), boot.WithModules(modules...))
	if err != nil {
		t.Fatal(err)
	}
	init := `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(grep -v '^#' /etc/hardvm/modules); do insmod "$m"; done
` + script + `
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
		{"init", 0o755, []byte(init)},
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
	initrdPath := filepath.Join(t.TempDir(), "initrd")
	if err := os.WriteFile(initrdPath, initrd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-machine", "q35,accel=tcg", "-m", "512", "-smp", "1",
		"-kernel", filepath.Join(ktree, info.Kernel.Image), "-initrd", initrdPath,
		"-append", "console=ttyS0 panic=-1 quiet",
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"}, qemuArgs...)
	if !slices.Contains(args, "-nic") {
		args = append(args, "-nic", "none")
	}
	out, err := exec.CommandContext(ctx, qemu, args...).CombinedOutput()
	console := string(out)
	if err != nil || !strings.Contains(console, "FIRSTBOOT-GUEST-DONE") {
		t.Fatalf("guest did not finish (%v):\n%s", err, console)
	}
	return console
}

// The network sources in a real guest, through QEMU's user network as
// the platform tests boot them: the guest is at 169.254.169.15, and each
// guestfwd address relays to a fake on the host (firstboottest), which
// checks every request. EC2 (IMDSv2) and GCE at 169.254.169.254, Azure's
// IMDS on another port and its wire server at 169.254.169.253.
func TestNetworkSourcesInLinuxGuest(t *testing.T) {
	qemu := testtool.Require(t, "qemu-system-x86_64")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ec2 := &firstboottest.EC2{InstanceID: "i-0abc", LocalHostname: "ip-10-1-2-3.ec2.internal", Keys: []string{testKeyEd25519}, UserData: []byte("ECS_CLUSTER=ec2\n")}
	gce := &firstboottest.GCE{ID: "77", Hostname: "gce-1.c.p.internal", Instance: map[string]string{"ssh-keys": "ops:" + testKeyECDSA + "\nroot:" + testKeyEd25519}}
	az := &firstboottest.Azure{VMID: "vm-1", ComputerName: "az-1", Keys: []string{testKeyEd25519}, Incarnation: "2", ContainerID: "c-1", RoleInstanceID: "r-1._az-1"}
	fwd := func(guest string, h http.Handler) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return ",guestfwd=tcp:" + guest + "-cmd:env " + relayEnv + "=" + strings.TrimPrefix(srv.URL, "http://") + " " + self
	}
	nic := "user,model=virtio-net-pci,net=169.254.169.0/24,host=169.254.169.2,restrict=on" +
		fwd("169.254.169.254:80", ec2) + fwd("169.254.169.254:8080", gce) + fwd("169.254.169.254:8081", az.IMDS()) + fwd("169.254.169.253:80", az.WireServer())
	script := `ip link set lo up
ip link set eth0 up
ip addr add 169.254.169.15/24 dev eth0
ip route add default via 169.254.169.2
for s in ec2:80 gce:8080 azure:8081; do
  src=${s%:*}; port=${s#*:}
  /firstboot --source $src --user ops --root /tmp/$src --endpoint http://169.254.169.254:$port --wireserver http://169.254.169.253 --deadline 30s
  echo "EXIT $src=$?"
  sed "s/^/KEYS $src: /" /tmp/$src/var/lib/hardvm/ssh/ops/authorized_keys
  echo "INSTANCE $src=$(tr -d '\n ' < /tmp/$src/run/hardvm/firstboot/instance.json)"
done
`
	console := bootAgentGuest(t, qemu, []string{"virtio_pci", "virtio_net"}, script, "-nic", nic)
	for _, want := range []string{
		"EXIT ec2=0", "KEYS ec2: " + testKeyEd25519, `INSTANCE ec2={"source":"ec2","instance_id":"i-0abc","hostname":"ip-10-1-2-3","keys":1,"user_data":true}`,
		"EXIT gce=0", "KEYS gce: " + testKeyECDSA, `INSTANCE gce={"source":"gce","instance_id":"77","hostname":"gce-1","keys":1,"user_data":false}`,
		"EXIT azure=0", "KEYS azure: " + testKeyEd25519, `INSTANCE azure={"source":"azure","instance_id":"vm-1","hostname":"az-1","keys":1,"user_data":false}`,
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if strings.Contains(console, "KEYS gce: "+testKeyEd25519) {
		t.Error("gce: root's key installed for ops")
	}
	for name, v := range map[string][]string{"ec2": ec2.Violations(), "gce": gce.Violations(), "azure": az.Violations()} {
		for _, s := range v {
			t.Errorf("%s: protocol violation: %s", name, s)
		}
	}
	if r := ec2.Requests(); len(r) == 0 || r[0] != "PUT /latest/api/token" {
		t.Errorf("ec2 requests %v", r)
	}
	if !az.IsReady() {
		t.Error("the Azure wire server got no Ready report from the guest")
	}
	if t.Failed() {
		t.Log(console)
	}
}
