package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/vm"
)

// The container-host tests boot the `host` image built from Debian's
// real packages (internal/debrepo): systemd, containerd 1.6, runc and
// Debian's kernel; the container image is Debian's busybox-static in an
// OCI image this test builds and pushes to Debian's docker-registry on
// the host. What rests on stand-ins (see debrepo): the base layout, the
// iptables-nft alternatives symlinks, the PAM common files sudo includes
// and Docker 20.10's trust key, which debrepo makes. The login user runs
// ctr and docker with sudo (ctr mounts the image to read its /etc/group,
// which only root may); Docker's container runs without AppArmor
// confinement (no apparmor_parser in the test repository). The ecs
// variant boots (TestECS) with labelled stand-ins for the ECS and SSM
// agents, which Debian does not have (see standInRepository); the eks
// variant is not booted: Debian has no kubelet (its user-data handling is
// checked in image/firstboot).

var images struct {
	once sync.Once
	dir  string
	repo *debrepo.Repository
	host *hardvm.Output
	err  error
}

func TestMain(m *testing.M) {
	vmtest.MaybeRelay() // the aws guest's IMDSv2 fake is reached through this binary
	code := m.Run()
	if images.dir != "" {
		os.RemoveAll(images.dir)
	}
	os.Exit(code)
}

// built builds the host image once per test binary.
func built(t *testing.T) *hardvm.Output {
	t.Helper()
	testtool.Require(t, "qemu-system-x86_64", "qemu-img", "mke2fs", "dpkg-deb", "depmod", "docker-registry")
	images.once.Do(func() {
		ctx := context.Background()
		if images.dir, images.err = os.MkdirTemp("", "containerhost-test-"); images.err != nil {
			return
		}
		if images.repo, images.err = debrepo.Open(ctx); images.err != nil {
			return
		}
		images.host, images.err = Build(ctx, images.repo, "host", vm.QEMU, filepath.Join(images.dir, "host"), slog.New(slog.DiscardHandler))
	})
	if images.err != nil {
		t.Fatal(images.err)
	}
	return images.host
}

func runIn(t *testing.T, ctx context.Context, m *Machine, cmd string) string {
	t.Helper()
	out, err := m.Session.Run(ctx, cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return strings.TrimSpace(out)
}

// TestHostRunsContainer is issue 23's `host` case in a booted machine:
// the host image boots to systemd's "running" with containerd active;
// the first-boot agent turned the #hardvm-config document of the
// machine's user data into containerd's hosts directory under /var (the
// root and /etc stay read-only); ctr, run by the login user with sudo,
// pulls registry.hardvm.test/busybox:1, which resolves only
// through the user data's mirror (docker-registry on the host at
// 10.0.2.2), and runs it: its output comes back over SSH, and the
// registry's log shows the guest's pull. Docker (which the test image
// adds; the ecs variant's) is active too and runs the same image, pulled
// over HTTP because the agent's daemon.json, from the same user data,
// lists the registry as insecure.
func TestHostRunsContainer(t *testing.T) {
	host := built(t)
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := StartRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	bb, deb, err := Busybox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := PushBusybox(ctx, reg.Addr, "busybox", "1", bb)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pushed busybox from %s as %s/busybox:1@%s", deb, reg.Addr, digest)
	key, err := vmtest.NewKey("containerhost-test")
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	m, err := Boot(bctx, host, vm.QEMU, filepath.Join(dir, "m"), "host-a", key, UserData(GuestAddr(vm.QEMU, reg.Addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Running(bctx); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 40))
	}
	t.Logf("BOOT TIME host (%s, 2 vCPUs, QEMU start to systemd running): %v", m.Accel, time.Since(m.Started()).Round(100*time.Millisecond))
	if out := runIn(t, bctx, m, "systemctl is-active containerd.service docker.service; sudo -n id -u"); out != "active\nactive\n0" {
		t.Errorf("containerd active, sudo works: %q", out)
	}
	hosts := runIn(t, bctx, m, "cat "+firstboot.ContainerdHostsDir+"/"+RegistryHost+"/hosts.toml")
	if !strings.Contains(hosts, `[host."http://`+GuestAddr(vm.QEMU, reg.Addr)+`"]`) {
		t.Errorf("hosts.toml for %s:\n%s", RegistryHost, hosts)
	}
	if out := runIn(t, bctx, m, "findmnt -n -O ro -T /etc -o TARGET; findmnt -n -o FSTYPE -T "+firstboot.ContainerdConfig+"; systemctl show -p ExecStart --value containerd.service"); !strings.HasPrefix(out, "/\next4\n") || !strings.Contains(out, "--config "+firstboot.ContainerdConfig) {
		t.Errorf("/etc read-only, containerd's config on /var, containerd started with it: %q", out)
	}
	start := time.Now()
	out, err := m.Session.Run(bctx, RunContainer("t1", "hello from busybox in a hardvm host"))
	if err != nil {
		j, _ := m.Session.Run(bctx, "journalctl -b -u containerd --no-pager | tail -30")
		t.Fatalf("ctr: %v\n%s\ncontainerd:\n%s\nregistry:\n%s", err, out, j, vmtest.Tail(reg.Log(), 20))
	}
	if strings.TrimSpace(out) != "hello from busybox in a hardvm host" {
		t.Errorf("the container printed %q", out)
	}
	t.Logf("PULL AND RUN (ctr, through the mirror): %v", time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	out, err = m.Session.Run(bctx, DockerRun(GuestAddr(vm.QEMU, reg.Addr), "hello from busybox in Docker"))
	if err != nil {
		j, _ := m.Session.Run(bctx, "systemctl status --no-pager docker.service | head -5; journalctl -b -u docker --no-pager | tail -30")
		t.Fatalf("docker run: %v\n%s\ndocker:\n%s", err, out, j)
	}
	if strings.TrimSpace(out) != "hello from busybox in Docker" {
		t.Errorf("the Docker container printed %q", out)
	}
	t.Logf("PULL AND RUN (docker, insecure registry from user data): %v", time.Since(start).Round(100*time.Millisecond))
	if log := reg.Log(); !strings.Contains(log, "/v2/busybox/manifests/1") || !strings.Contains(log, "10.0.2.") && !strings.Contains(log, "127.0.0.1") {
		t.Errorf("the registry's log shows no pull of busybox:1:\n%s", vmtest.Tail(log, 20))
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer pcancel()
	if err := m.PowerOff(pctx); err != nil {
		t.Fatal(err)
	}
}

// The variant tables say what each container host needs; a build from a
// repository that lacks one of its packages fails naming it. Debian has
// no ECS agent, SSM agent, kubelet or aws-iam-authenticator, so the ecs
// and eks images cannot be built from debrepo's repository alone: TestECS
// adds labelled stand-ins for the two agents; the real agents' behaviour
// rests on a real Wolfi or Chainguard repository (see the README).
func TestBuildNamesMissingPackage(t *testing.T) {
	testtool.Require(t, "mke2fs", "dpkg-deb", "depmod")
	ctx := context.Background()
	repo, err := debrepo.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for variant, missing := range map[string]string{"ecs": "amazon-ecs-agent", "eks": "kubelet"} {
		_, err := Build(ctx, repo, variant, vm.AWS, filepath.Join(t.TempDir(), variant), slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("%s from a repository without %s: %v, want an error naming it", variant, missing, err)
		}
	}
	v, err := vm.LookupVariant("ecs")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"containerd", "runc", "docker", "amazon-ecs-agent"} {
		if !strings.Contains(strings.Join(v.Packages, " "), want) {
			t.Errorf("ecs packages %v lack %s", v.Packages, want)
		}
	}
	if !strings.Contains(strings.Join(v.Units, " "), "docker.service") {
		t.Errorf("ecs units %v lack docker.service", v.Units)
	}
}

// TestRefusedUserDataStillBoots is issue 23's refusal in a booted machine:
// user data naming a key hardvm does not know (registrys) is refused
// whole, the agent's unit fails with a log line that names the key, and
// the machine still boots: the login user logs in with the key from the
// same metadata, containerd runs (with the agent's defaults: nothing from
// the refused user data) and nothing else failed.
func TestRefusedUserDataStillBoots(t *testing.T) {
	host := built(t)
	ctx := context.Background()
	key, err := vmtest.NewKey("containerhost-refused")
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	ud := []byte(firstboot.HardvmConfigMarker + "\ncontainerd:\n  registrys:\n    - host: registry.hardvm.test\n")
	m, err := Boot(bctx, host, vm.QEMU, filepath.Join(t.TempDir(), "m"), "host-refused", key, ud)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	state, _ := m.Running(bctx)
	t.Logf("BOOT TIME host with refused user data (%s): %v", m.Accel, time.Since(m.Started()).Round(100*time.Millisecond))
	if state != "degraded" {
		t.Errorf("systemctl is-system-running = %q, want degraded (the agent's unit failed)", state)
	}
	if out := runIn(t, bctx, m, "systemctl list-units --state=failed --no-legend --plain | cut -d' ' -f1; systemctl is-active containerd.service"); out != firstboot.UnitName+"\nactive" {
		t.Errorf("failed units and containerd: %q, want only %s failed and containerd active", out, firstboot.UnitName)
	}
	log := runIn(t, bctx, m, "journalctl -b -u "+firstboot.UnitName+" --no-pager -o cat")
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "registrys") || !strings.Contains(log, "refused") {
		t.Errorf("the agent's log does not say why the user data was refused:\n%s", log)
	}
	if out := runIn(t, bctx, m, "hostname; ls "+firstboot.ContainerdHostsDir+" | wc -l"); out != "host-refused\n0" {
		t.Errorf("hostname and containerd's registry hosts after a refusal: %q, want the seed's and none", out)
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer pcancel()
	if err := m.PowerOff(pctx); err != nil {
		t.Fatal(err)
	}
}
