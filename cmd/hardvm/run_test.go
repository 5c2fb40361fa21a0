package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

func TestRunCommandLine(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk.qcow2")
	if err := os.WriteFile(disk, []byte("not booted in this test"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--dry-run", disk}, 0, "format=qcow2,file=" + disk},
		{[]string{"run", "--dry-run", "--format", "raw", "--memory", "1024", disk}, 0, "-m 1024"},
		{[]string{"run", "--dry-run", disk}, 0, "-snapshot"},
		{[]string{"run", "--dry-run", disk}, 0, "OVMF_CODE"},
		{[]string{"run", "--dry-run", "--secure-boot", "--firmware", "/x/CODE.fd", "--vars", "/etc/hostname", disk}, 0, "smm=on"},
		{[]string{"run"}, 2, "want exactly one DISK"},
		{[]string{"run", "--format", "vhd", disk}, 2, "want raw or qcow2"},
		{[]string{"run", "--arch", "mips", disk}, 2, "--arch"},
		{[]string{"run", filepath.Join(t.TempDir(), "missing.raw")}, 1, "no such file"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), &env{stdout: &out, stderr: &errb}, tc.args)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("%v: code %d, output %q %q; want code %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.want)
		}
	}
}

// --forward, --ssh-key and --accel on the command line QEMU gets: user
// networking only on 127.0.0.1, the seed as a second read-only virtio
// disk that the agent's reader accepts, 2222 to 22.
func TestRunForwardsAndSeed(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // --dry-run keeps the seed
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdwR3aiO1H5FdHbV0znW2nucZmK+R8u1gpRiT04RLLL alice@example"
	pub := filepath.Join(dir, "id.pub")
	priv := filepath.Join(dir, "id")
	for p, data := range map[string]string{disk: "x", pub: "# my key\n" + key + "\n", priv: "-----BEGIN OPENSSH PRIVATE KEY-----\n"} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), &env{stdout: &out, stderr: &errb}, []string{"run", "--dry-run", "--forward", "8080:80", "--forward", "3128:3128", "--ssh-key", pub, "--hostname", "web-1", disk})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	cmd := out.String()
	for _, want := range []string{
		"-nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=tcp:127.0.0.1:3128-:3128,hostfwd=tcp:127.0.0.1:2222-:22 ",
		"accel=tcg",
		"-drive if=virtio,format=raw,readonly=on,file=",
	} {
		if !strings.Contains(cmd, want) {
			t.Errorf("command lacks %q:\n%s", want, cmd)
		}
	}
	if strings.Contains(cmd, "-nic none") {
		t.Errorf("network still off:\n%s", cmd)
	}
	_, seed, _ := strings.Cut(cmd, "if=virtio,format=raw,readonly=on,file=")
	seed = strings.Fields(seed)[0]
	s, err := firstboot.ReadNoCloudSeedFile(seed, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "web-1" || len(s.AuthorizedKeys) != 1 || s.AuthorizedKeys[0] != key {
		t.Errorf("seed %+v", s)
	}

	// Forwarding 22 yourself replaces the default 2222.
	out.Reset()
	if code := run(context.Background(), &env{stdout: &out, stderr: &errb}, []string{"run", "--dry-run", "--forward", "2200:22", "--ssh-key", pub, "--accel", "kvm", disk}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "hostfwd=tcp:127.0.0.1:2200-:22 ") || strings.Contains(out.String(), "2222") || !strings.Contains(out.String(), "accel=kvm") {
		t.Errorf("command:\n%s", out.String())
	}

	bad := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--forward", "80", disk}, 2, "HOST:GUEST"},
		{[]string{"--forward", "0:80", disk}, 2, "HOST:GUEST"},
		{[]string{"--forward", "8080:80", "--forward", "8080:81", disk}, 2, "twice"},
		{[]string{"--forward", "2222:80", "--ssh-key", pub, disk}, 2, "2222"},
		{[]string{"--ssh-key", priv, disk}, 2, "private key"},
		{[]string{"--ssh-key", filepath.Join(dir, "missing.pub"), disk}, 1, "no such file"},
		{[]string{"--hostname", "x", disk}, 2, "needs --ssh-key"},
		{[]string{"--accel", "hvf", disk}, 2, "--accel"},
	}
	for _, tc := range bad {
		var o, e bytes.Buffer
		code := run(context.Background(), &env{stdout: &o, stderr: &e}, append([]string{"run", "--dry-run"}, tc.args...))
		if code != tc.code || !strings.Contains(o.String()+e.String(), tc.want) {
			t.Errorf("%v: code %d, %q; want %d and %q", tc.args, code, o.String()+e.String(), tc.code, tc.want)
		}
	}
}

// The KVM probe really runs the firmware and asks QEMU: on this machine
// class (a paravirtual KVM that stops OVMF) it must say so instead of
// choosing KVM; where KVM works it must say "running".
func TestProbeKVM(t *testing.T) {
	testtool.Require(t, "qemu-system-x86_64")
	code, vars, err := boot.FindOVMF(vm.X86_64)
	if err != nil {
		t.Fatal(err)
	}
	ok, status := probeKVM(context.Background(), vm.X86_64, code, vars, t.TempDir())
	t.Logf("KVM probe: %v, %s", ok, status)
	if _, err := os.Stat("/dev/kvm"); err != nil {
		if ok || status != "no usable /dev/kvm" {
			t.Errorf("no /dev/kvm, yet the probe says %v %q", ok, status)
		}
		return
	}
	if !strings.HasPrefix(status, "VM status ") || ok != (status == "VM status running") {
		t.Errorf("probe %v %q: want the monitor's status, and KVM only when running", ok, status)
	}
}
