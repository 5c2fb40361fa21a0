package firstboot

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/vm"
)

// A container host's files: the agent runs with --containers, and the
// drop-ins and symlinks point containerd, the ECS agent, the kubelet and
// CNI at what the agent writes under /var/lib/hardvm.
func TestFilesForContainerHosts(t *testing.T) {
	for _, c := range []struct {
		variant string
		want    []string // paths
		not     []string
	}{
		{"host", []string{"usr/lib/systemd/system/containerd.service.d/10-hardvm.conf", "opt/cni/bin", "etc/cni/net.d"}, []string{"etc/ecs/ecs.config"}},
		{"ecs", []string{"etc/ecs/ecs.config", "usr/lib/systemd/system/ecs.service.d/10-hardvm.conf"}, []string{"usr/lib/systemd/system/kubelet.service.d/10-hardvm.conf"}},
		{"eks", []string{"usr/lib/systemd/system/kubelet.service.d/10-hardvm.conf"}, []string{"etc/ecs/ecs.config"}},
	} {
		files, err := Files(vm.X86_64, platform(t, vm.AWS), WithUser("ops"), WithContainerHost(c.variant))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]File{}
		for _, f := range files {
			got[f.Path] = f
		}
		for _, p := range c.want {
			if _, ok := got[p]; !ok {
				t.Errorf("%s: no %s", c.variant, p)
			}
		}
		for _, p := range c.not {
			if _, ok := got[p]; ok {
				t.Errorf("%s: has %s", c.variant, p)
			}
		}
		if u := string(got[UnitPath].Data); !strings.Contains(u, " --containers "+c.variant+"\n") {
			t.Errorf("%s: unit's ExecStart lacks --containers:\n%s", c.variant, u)
		}
		if d := string(got["usr/lib/systemd/system/containerd.service.d/10-hardvm.conf"].Data); !strings.Contains(d, "ExecStart=\nExecStart=/usr/bin/containerd --config "+ContainerdConfig+"\n") || !strings.Contains(d, "After="+UnitName) {
			t.Errorf("%s: containerd drop-in:\n%s", c.variant, d)
		}
		if l := got["etc/cni/net.d"]; l.Mode&fs.ModeSymlink == 0 || string(l.Data) != "/var/lib/hardvm/cni/net.d" {
			t.Errorf("%s: /etc/cni/net.d %v %q", c.variant, l.Mode, l.Data)
		}
	}
	files, _ := Files(vm.X86_64, platform(t, vm.AWS), WithContainerHost("ecs"))
	for _, f := range files {
		if f.Path == "etc/ecs/ecs.config" && (f.Mode&fs.ModeSymlink == 0 || string(f.Data) != ECSConfig) {
			t.Errorf("/etc/ecs/ecs.config: %v -> %q, want a symlink to %s", f.Mode, f.Data, ECSConfig)
		}
		if strings.HasSuffix(f.Path, "kubelet.service.d/10-hardvm.conf") {
			t.Errorf("an ecs host has the kubelet's drop-in")
		}
	}
	files, _ = Files(vm.X86_64, platform(t, vm.AWS), WithContainerHost("eks"))
	for _, f := range files {
		if strings.HasSuffix(f.Path, "kubelet.service.d/10-hardvm.conf") {
			d := string(f.Data)
			for _, want := range []string{"ConditionPathExists=" + Kubeconfig, "EnvironmentFile=" + KubeletEnv, "--config=" + KubeletConfig, "--kubeconfig=" + Kubeconfig, "$KUBELET_ARGS"} {
				if !strings.Contains(d, want) {
					t.Errorf("kubelet drop-in lacks %s:\n%s", want, d)
				}
			}
		}
	}
	if _, err := Files(vm.X86_64, platform(t, vm.AWS), WithContainerHost("nginx")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("WithContainerHost(nginx): %v", err)
	}
}

func TestParseContainerUserDataPublic(t *testing.T) {
	skipped, err := ParseContainerUserData("ecs", []byte("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n--b\nContent-Type: text/plain\n\nECS_CLUSTER=prod\n--b--\n"))
	if err != nil || len(skipped) != 1 {
		t.Errorf("skipped %v, %v", skipped, err)
	}
	if _, err := ParseContainerUserData("ecs", []byte("ECS_CLUSTRE=prod\n")); !errors.Is(err, ErrUserData) || !strings.Contains(err.Error(), "ECS_CLUSTRE") {
		t.Errorf("typo: %v", err)
	}
}
