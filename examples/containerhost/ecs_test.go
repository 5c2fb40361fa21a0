package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/vm"
)

// ECSCluster and ecsConfig are the ecs.config lines the ECS test's user
// data gives, as ECS users write them (keys the ECS agent documents).
const ECSCluster = "hardvm-test"

const dirMode = fs.ModeDir

var ecsConfig = []string{"ECS_CLUSTER=" + ECSCluster, "ECS_LOGLEVEL=debug", "ECS_ENABLE_TASK_IAM_ROLE=true", "ECS_CONTAINER_STOP_TIMEOUT=45s"}

// ecsStandInLog is what the stand-in ECS agent logs once it has read
// ecs.config.
const ecsStandInLog = "hardvm test stand-in for amazon-ecs-agent: ECS_CLUSTER="

// standInRepository writes a signed APK repository (apktest) holding the
// two packages of the ecs variant that Debian does not have, as clearly
// labelled STAND-INS (not the real agents):
//   - amazon-ecs-agent: ecs.service, a oneshot unit after docker.service
//     whose program (a shell script) reads /etc/ecs/ecs.config, logs
//     ECS_CLUSTER, and asks Docker's socket for its version (docker
//     info), failing the unit if either is missing. It proves that the
//     unit starts with the configuration the first-boot agent wrote, and
//     nothing of what the real agent does (register with the ECS API,
//     run tasks).
//   - amazon-ssm-agent: amazon-ssm-agent.service, a oneshot unit that
//     logs that it is a stand-in.
func standInRepository(t *testing.T, dir string) vm.Repository {
	t.Helper()
	agent := `#!/bin/sh
# hardvm test stand-in for amazon-ecs-agent: NOT the ECS agent.
set -e
cluster=
while IFS='=' read -r k v; do
	case "$k" in ECS_CLUSTER) cluster="$v" ;; esac
done < /etc/ecs/ecs.config
[ -n "$cluster" ] || { echo "stand-in ECS agent: no ECS_CLUSTER in /etc/ecs/ecs.config" >&2; exit 1; }
docker info >/dev/null
echo "` + ecsStandInLog + `$cluster"
`
	unit := `[Unit]
Description=Amazon ECS agent (hardvm test stand-in)
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/amazon-ecs-agent

[Install]
WantedBy=multi-user.target
`
	ssm := `[Unit]
Description=Amazon SSM agent (hardvm test stand-in)

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo hardvm test stand-in for amazon-ssm-agent'

[Install]
WantedBy=multi-user.target
`
	repo := apktest.NewRepository(dir, "x86_64", apktest.NewKey("hardvm-ecs-standin", 23))
	repo.Description = "hardvm test stand-ins for the ECS and SSM agents"
	repo.Add(
		apktest.Package{Name: "amazon-ecs-agent", Version: "0.0.1-r0", Description: "test stand-in: reads ecs.config, logs ECS_CLUSTER", BuildTime: Epoch,
			Files: []apktest.File{
				{Name: "usr", Mode: 0o755 | dirMode}, {Name: "usr/bin", Mode: 0o755 | dirMode},
				{Name: "usr/bin/amazon-ecs-agent", Mode: 0o755, Data: []byte(agent)},
				{Name: "usr/lib", Mode: 0o755 | dirMode}, {Name: "usr/lib/systemd", Mode: 0o755 | dirMode}, {Name: "usr/lib/systemd/system", Mode: 0o755 | dirMode},
				{Name: "usr/lib/systemd/system/ecs.service", Mode: 0o644, Data: []byte(unit)},
			}},
		apktest.Package{Name: "amazon-ssm-agent", Version: "0.0.1-r0", Description: "test stand-in: a unit that logs", BuildTime: Epoch,
			Files: []apktest.File{
				{Name: "usr", Mode: 0o755 | dirMode}, {Name: "usr/lib", Mode: 0o755 | dirMode}, {Name: "usr/lib/systemd", Mode: 0o755 | dirMode}, {Name: "usr/lib/systemd/system", Mode: 0o755 | dirMode},
				{Name: "usr/lib/systemd/system/amazon-ssm-agent.service", Mode: 0o644, Data: []byte(ssm)},
			}},
	)
	if err := repo.Write(); err != nil {
		t.Fatal(err)
	}
	return vm.Repository{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}
}

// ECSUserData is the ecs host's user data: a MIME multi-part document
// (as ECS users combine parts) with a #hardvm-config part that lets
// Docker pull from the registry at guestAddr over HTTP, and the
// ecs.config lines.
func ECSUserData(guestAddr string, lines []string) []byte {
	const b = "==hardvm-ecs=="
	return fmt.Appendf(nil, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=%q\n\n--%s\nContent-Type: %s\n\n%s\n--%s\nContent-Type: text/plain\n\n%s\n--%s--\n",
		b, b, "text/x-hardvm-config", UserData(guestAddr), b, strings.Join(lines, "\n"), b)
}

// TestECS is issue 23's `ecs` case in a booted machine of the aws
// platform: the ecs variant, built from Debian's packages (containerd,
// runc, docker.io) plus the two stand-ins of standInRepository, boots
// from NVMe with EC2's SMBIOS identity; its first-boot agent reads the
// user data from the IMDSv2 fake (firstboottest.EC2, which checks the
// IMDSv2 protocol) and writes ecs.config on /var: /etc/ecs/ecs.config
// (a symlink into /var/lib/hardvm/ecs) holds exactly the given keys, the
// root and /etc stay read-only, Docker is active and runs the busybox
// image pulled from Debian's docker-registry on the host.
//
// What rests on the stand-ins: only that ecs.service starts (after
// Docker, with ecs.config in place, its ConditionPathExists met) and that
// a program started by it reads ECS_CLUSTER from /etc/ecs/ecs.config and
// reaches Docker's socket. Nothing here proves the real ECS agent
// registers with a cluster or runs tasks, nor anything of the SSM agent.
func TestECS(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	built(t) // the debrepo repository
	spec := Spec(images.repo, "ecs", vm.AWS)
	spec.Repositories = append(spec.Repositories, standInRepository(t, filepath.Join(dir, "standin")))
	start := time.Now()
	o, err := hardvm.Build(ctx, spec, hardvm.WithOutputDir(filepath.Join(dir, "ecs")), hardvm.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BUILD ecs for aws (%d packages): %v", len(o.Lock.Packages), time.Since(start).Round(100*time.Millisecond))
	reg, err := StartRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	bb, _, err := Busybox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PushBusybox(ctx, reg.Addr, "busybox", "1", bb); err != nil {
		t.Fatal(err)
	}
	guestAddr := GuestAddr(vm.AWS, reg.Addr)
	key, err := vmtest.NewKey("containerhost-ecs")
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	m, err := Boot(bctx, o, vm.AWS, filepath.Join(dir, "m"), "ecs-a", key, ECSUserData(guestAddr, ecsConfig))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Running(bctx); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vmtest.Tail(m.Console(), 40))
	}
	t.Logf("BOOT TIME ecs on aws (%s, NVMe, QEMU start to systemd running): %v", m.Accel, time.Since(m.Started()).Round(100*time.Millisecond))
	if v := m.Guest.Violations(); len(v) > 0 {
		t.Errorf("IMDSv2 protocol violations: %v", v)
	}
	want := "/\n/\n" + firstboot.ECSConfig + "\next4\nnvme"
	if out := runIn(t, bctx, m, "findmnt -n -O ro -T / -o TARGET; findmnt -n -O ro -T /etc -o TARGET; readlink /etc/ecs/ecs.config; findmnt -n -o FSTYPE -T "+firstboot.ECSConfig+
		"; basename $(readlink -f /sys/class/nvme/nvme0/device/driver)"); out != want {
		t.Errorf("root and /etc read-only, ecs.config a symlink onto /var (ext4), the disk on NVMe: %q, want %q", out, want)
	}
	var got []string
	for _, l := range strings.Split(runIn(t, bctx, m, "sudo -n cat /etc/ecs/ecs.config"), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(ecsConfig, "\n") {
		t.Errorf("/etc/ecs/ecs.config = %q, want exactly %q", got, ecsConfig)
	}
	if out := runIn(t, bctx, m, "systemctl is-active docker.service ecs.service amazon-ssm-agent.service"); out != "active\nactive\nactive" {
		t.Errorf("docker, ecs (stand-in), ssm (stand-in) active: %q", out)
	}
	if log := runIn(t, bctx, m, "journalctl -b -u ecs.service --no-pager -o cat"); !strings.Contains(log, ecsStandInLog+ECSCluster) {
		t.Errorf("the stand-in ECS agent did not log the user data's cluster:\n%s", log)
	}
	start = time.Now()
	out, err := m.Session.Run(bctx, DockerRun(guestAddr, "hello from busybox on an ECS host"))
	if err != nil {
		j, _ := m.Session.Run(bctx, "journalctl -b -u docker --no-pager | tail -30")
		t.Fatalf("docker run: %v\n%s\ndocker:\n%s\nregistry:\n%s", err, out, j, vmtest.Tail(reg.Log(), 20))
	}
	if strings.TrimSpace(out) != "hello from busybox on an ECS host" {
		t.Errorf("the Docker container printed %q", out)
	}
	t.Logf("PULL AND RUN (docker on the ecs host): %v", time.Since(start).Round(100*time.Millisecond))
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer pcancel()
	if err := m.PowerOff(pctx); err != nil {
		t.Fatal(err)
	}
}
