package firstboot

import (
	"fmt"
	"io/fs"

	"github.com/hardvm/hardvm/image/firstboot/internal/agent"
)

// Where the agent writes a container host's configuration from user data
// (under /var/lib/hardvm; /etc stays read-only). See [WithContainerHost].
const (
	// ContainerdConfig is the config.toml containerd.service starts with.
	ContainerdConfig = agent.ContainerdConfig
	// ContainerdHostsDir holds HOST/hosts.toml per registry (containerd's
	// config_path; `ctr --hosts-dir`).
	ContainerdHostsDir = agent.ContainerdHostsDir
	// DockerConfig is the daemon.json dockerd starts with (where an
	// image has Docker): insecure registries and Docker Hub mirrors.
	DockerConfig = agent.DockerConfig
	// ECSConfig is the ECS agent's ecs.config; the image's
	// /etc/ecs/ecs.config is a symlink to it.
	ECSConfig = agent.ECSConfig
	// KubeletConfig, Kubeconfig, ClusterCA and KubeletEnv are an EKS
	// node's, from the NodeConfig in user data.
	KubeletConfig = agent.KubeletConfig
	Kubeconfig    = agent.Kubeconfig
	ClusterCA     = agent.ClusterCA
	KubeletEnv    = agent.KubeletEnv
	// HardvmConfigMarker starts the user-data document (or MIME part of
	// type text/x-hardvm-config) that gives containerd's registries.
	HardvmConfigMarker = agent.HardvmConfigMarker
	// NodeConfigAPIVersion is the EKS NodeConfig's apiVersion.
	NodeConfigAPIVersion = agent.NodeConfigAPIVersion
)

// ErrUserData is the agent's refusal of a container host's user data
// (see [ParseContainerUserData]).
var ErrUserData = agent.ErrUserData

// WithContainerHost makes the agent configure a container host of the
// given variant (host, ecs or eks, the container-host family) from the
// user data at every boot: containerd's registry mirrors and credentials
// (a #hardvm-config document), ecs.config (ecs: ECS_CLUSTER=… lines) or
// the kubelet's configuration (eks: a NodeConfig, apiVersion
// node.eks.aws/v1alpha1, alone or in a MIME multi-part document). Files
// then also returns the drop-ins that point containerd, the ECS agent and
// the kubelet at what the agent writes, and /etc/ecs/ecs.config as a
// symlink to [ECSConfig].
func WithContainerHost(variant string) Option {
	return func(o *options) error {
		if !agent.ValidHostKind(agent.HostKind(variant)) {
			return fmt.Errorf("%w: container host %q (want host, ecs or eks)", ErrUnsupported, variant)
		}
		o.containers = variant
		return nil
	}
}

// ParseContainerUserData checks user data as the agent of a container
// host of variant (host, ecs or eks) reads it, without applying it: nil,
// or an error wrapping [ErrUserData] that says what is wrong (never a
// secret). Parts for other programs (shell scripts, cloud-config) are
// returned in skipped: hardvm runs no scripts.
func ParseContainerUserData(variant string, userData []byte) (skipped []string, err error) {
	_, skipped, err = agent.ParseContainerUserData(agent.HostKind(variant), userData)
	return skipped, err
}

// containerFiles are the build-time files of a container host: the
// drop-ins that start containerd, the ECS agent and the kubelet with the
// agent's configuration, after the agent.
func containerFiles(variant string) []File {
	after := "# hardvm: configured from user data by " + UnitName + " (image/firstboot).\n[Unit]\nAfter=" + UnitName + "\n"
	files := []File{
		{Path: "usr/lib/systemd/system/containerd.service.d/10-hardvm.conf", Mode: 0o644, Data: []byte(after +
			"\n[Service]\nExecStart=\nExecStart=/usr/bin/containerd --config " + agent.ContainerdConfig + "\n")},
		{Path: "usr/lib/systemd/system/docker.service.d/10-hardvm.conf", Mode: 0o644, Data: []byte(after +
			"\n[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock --config-file " + agent.DockerConfig + " $DOCKER_OPTS\n")},
		// CNI plugins install themselves into the host's /opt/cni/bin and
		// /etc/cni/net.d (hostPath volumes): on a read-only root these
		// lead to /var.
		{Path: "opt/cni/bin", Mode: fs.ModeSymlink | 0o777, Data: []byte(agent.CNIBinDir)},
		{Path: "etc/cni/net.d", Mode: fs.ModeSymlink | 0o777, Data: []byte(agent.CNIConfDir)},
	}
	switch agent.HostKind(variant) {
	case agent.HostECS:
		files = append(files,
			File{Path: "etc/ecs/ecs.config", Mode: fs.ModeSymlink | 0o777, Data: []byte(agent.ECSConfig)},
			File{Path: "usr/lib/systemd/system/ecs.service.d/10-hardvm.conf", Mode: 0o644, Data: []byte(after +
				"After=docker.service\nConditionPathExists=" + agent.ECSConfig + "\n")})
	case agent.HostEKS:
		files = append(files, File{Path: "usr/lib/systemd/system/kubelet.service.d/10-hardvm.conf", Mode: 0o644, Data: []byte(after +
			"After=containerd.service\nWants=containerd.service\nConditionPathExists=" + agent.Kubeconfig + "\n" +
			"\n[Service]\nEnvironmentFile=" + agent.KubeletEnv + "\nExecStart=\nExecStart=/usr/bin/kubelet --config=" + agent.KubeletConfig +
			" --kubeconfig=" + agent.Kubeconfig + " $KUBELET_ARGS\n")})
	}
	return files
}
