package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/internal/atomicfile"
	"gopkg.in/yaml.v3"
)

// ErrUserData: the user data of a container host is malformed or names
// keys hardvm does not know. The agent refuses all of it (writes none of
// the container configuration), logs why and exits 1; the machine boots
// and SSH works (keys and host name were applied first).
var ErrUserData = errors.New("firstboot: user data refused")

// HostKind is what a container host runs: the variants of the
// container-host family.
type HostKind string

// The container-host kinds.
const (
	HostPlain HostKind = "host" // containerd and runc
	HostECS   HostKind = "ecs"  // plus Docker and the ECS agent
	HostEKS   HostKind = "eks"  // plus the kubelet
)

// ValidHostKind reports whether k is a container-host kind.
func ValidHostKind(k HostKind) bool {
	return k == HostPlain || k == HostECS || k == HostEKS
}

// Where the agent writes a container host's configuration: under
// /var/lib/hardvm (the unit's StateDirectory), never /etc, which stays
// read-only and verified. The image's units point there (see package
// firstboot's ContainerFiles).
const (
	// ContainerdDir holds containerd's configuration.
	ContainerdDir = "/var/lib/hardvm/containerd"
	// ContainerdConfig is containerd's config.toml (version 2), which
	// containerd.service is started with (--config).
	ContainerdConfig = ContainerdDir + "/config.toml"
	// ContainerdHostsDir is containerd's registry hosts directory
	// (config_path; `ctr --hosts-dir`): HOST/hosts.toml per registry.
	ContainerdHostsDir = ContainerdDir + "/certs.d"
	// DockerConfig is dockerd's daemon.json (--config-file): the
	// insecure registries and Docker Hub mirrors of the user data.
	DockerConfig = "/var/lib/hardvm/docker/daemon.json"
	// CNIBinDir and CNIConfDir are the CRI plugin's CNI directories,
	// writable; the image's /opt/cni/bin and /etc/cni/net.d are symlinks
	// to them.
	CNIBinDir  = "/var/lib/hardvm/cni/bin"
	CNIConfDir = "/var/lib/hardvm/cni/net.d"
	// ECSConfig is the ECS agent's ecs.config; /etc/ecs/ecs.config in the
	// image is a symlink to it.
	ECSConfig = "/var/lib/hardvm/ecs/ecs.config"
	// EKSDir holds the kubelet's configuration from the NodeConfig.
	EKSDir = "/var/lib/hardvm/eks"
	// KubeletConfig is the KubeletConfiguration (JSON).
	KubeletConfig = EKSDir + "/kubelet-config.json"
	// Kubeconfig is the kubelet's kubeconfig.
	Kubeconfig = EKSDir + "/kubeconfig"
	// ClusterCA is the cluster's CA bundle (PEM).
	ClusterCA = EKSDir + "/ca.crt"
	// KubeletEnv is the kubelet unit's EnvironmentFile: KUBELET_ARGS
	// with the node's labels and the flags the NodeConfig gave.
	KubeletEnv = EKSDir + "/kubelet.env"
)

// HardvmConfigMarker starts a hardvm configuration document in user data
// (as "#cloud-config" starts cloud-init's); in a MIME multi-part
// document, a part of type HardvmConfigType is one too.
const (
	HardvmConfigMarker = "#hardvm-config"
	HardvmConfigType   = "text/x-hardvm-config"
	// NodeConfigType is the MIME type EKS documents for a NodeConfig part.
	NodeConfigType = "application/node.eks.aws"
)

// maxParts bounds the parts of a multi-part user data document.
const maxParts = 64

// ContainerConfig is what a container host's user data says, parsed and
// checked: nothing in it is written before all of it passed.
type ContainerConfig struct {
	Registries []Registry   // containerd's registry hosts (all kinds)
	ECS        []ECSSetting // ecs.config, in order (ecs only)
	Node       *NodeConfig  // the EKS NodeConfig (eks only)
}

// document is one document of the user data: the whole of it, or one
// part of a MIME multi-part document.
type document struct {
	contentType string // "" for the whole user data
	body        []byte
}

// splitUserData returns the documents of user data: the parts of a MIME
// multi-part document (RFC 2046, as cloud-init and EKS's nodeadm read
// it), or the whole as one.
func splitUserData(ud []byte) ([]document, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(ud, "\r\n"), []byte("MIME-Version:")) &&
		!bytes.HasPrefix(bytes.TrimLeft(ud, "\r\n"), []byte("Content-Type: multipart/")) {
		return []document{{body: ud}}, nil
	}
	msg, err := mail.ReadMessage(bytes.NewReader(bytes.TrimLeft(ud, "\r\n")))
	if err != nil {
		return nil, fmt.Errorf("%w: MIME document: %v", ErrUserData, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: MIME document: Content-Type %q is not multipart with a boundary", ErrUserData, msg.Header.Get("Content-Type"))
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	var docs []document
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: MIME part %d: %v", ErrUserData, len(docs)+1, err)
		}
		if len(docs) == maxParts {
			return nil, fmt.Errorf("%w: more than %d MIME parts", ErrUserData, maxParts)
		}
		ct, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return nil, fmt.Errorf("%w: MIME part %d: Content-Type %q", ErrUserData, len(docs)+1, p.Header.Get("Content-Type"))
		}
		switch enc := strings.ToLower(p.Header.Get("Content-Transfer-Encoding")); enc {
		case "", "7bit", "8bit", "binary":
		default:
			return nil, fmt.Errorf("%w: MIME part %d: Content-Transfer-Encoding %q (want 7bit, 8bit or binary)", ErrUserData, len(docs)+1, enc)
		}
		body, err := io.ReadAll(io.LimitReader(p, MaxUserData+1))
		if err != nil {
			return nil, fmt.Errorf("%w: MIME part %d: %v", ErrUserData, len(docs)+1, err)
		}
		if len(body) > MaxUserData {
			return nil, fmt.Errorf("%w: MIME part %d larger than %d bytes", ErrUserData, len(docs)+1, MaxUserData)
		}
		docs = append(docs, document{contentType: ct, body: body})
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: MIME document without parts", ErrUserData)
	}
	return docs, nil
}

// inPart says which part of the user data err is about (the whole needs
// no saying).
func inPart(where string, err error) error {
	if where == "user data" {
		return err
	}
	return fmt.Errorf("%w: %s: %s", ErrUserData, where, strings.TrimPrefix(err.Error(), ErrUserData.Error()+": "))
}

// notForHardvm reports whether a document is for another program
// (cloud-init's formats, shell scripts): hardvm runs no scripts and has
// no cloud-init; such documents are logged and left alone.
func notForHardvm(d document) (string, bool) {
	switch d.contentType {
	case "text/x-shellscript", "text/cloud-config", "text/cloud-boothook", "text/x-include-url", "text/jinja2", "text/part-handler", "text/cloud-config-archive":
		return d.contentType, true
	}
	first, _, _ := bytes.Cut(bytes.TrimLeft(d.body, "\r\n\t "), []byte("\n"))
	first = bytes.TrimSpace(first)
	for _, m := range []string{"#!", "#cloud-config", "#cloud-boothook", "#include", "#part-handler", "## template: jinja"} {
		if bytes.HasPrefix(first, []byte(m)) {
			return string(first), true
		}
	}
	return "", false
}

// ParseContainerUserData parses a container host's user data for kind:
// a #hardvm-config document (registries), the ECS agent's ecs.config
// lines (ecs), an EKS NodeConfig (eks), or a MIME multi-part document of
// these. Parts for other programs (shell scripts, cloud-config) are
// skipped and reported in skipped. Anything else, or a key not
// documented, is an error wrapping ErrUserData.
func ParseContainerUserData(kind HostKind, ud []byte) (cfg *ContainerConfig, skipped []string, err error) {
	if !ValidHostKind(kind) {
		return nil, nil, fmt.Errorf("%w: container host kind %q", ErrUserData, kind)
	}
	if len(ud) > MaxUserData {
		return nil, nil, fmt.Errorf("%w: larger than %d bytes", ErrUserData, MaxUserData)
	}
	docs, err := splitUserData(ud)
	if err != nil {
		return nil, nil, err
	}
	cfg = &ContainerConfig{}
	var hardvm, ecs, node bool
	for i, d := range docs {
		where := "user data"
		if d.contentType != "" {
			where = fmt.Sprintf("MIME part %d (%s)", i+1, d.contentType)
		}
		if len(bytes.TrimSpace(d.body)) == 0 {
			continue
		}
		if what, ok := notForHardvm(d); ok {
			skipped = append(skipped, where+": "+what)
			continue
		}
		switch {
		case d.contentType == NodeConfigType || d.contentType == "" && looksLikeNodeConfig(d.body):
			if kind != HostEKS {
				return nil, skipped, fmt.Errorf("%w: %s: an EKS NodeConfig, but this is an %s host", ErrUserData, where, kind)
			}
			if node {
				return nil, skipped, fmt.Errorf("%w: %s: a second NodeConfig", ErrUserData, where)
			}
			n, err := ParseNodeConfig(d.body)
			if err != nil {
				return nil, skipped, inPart(where, err)
			}
			cfg.Node, node = n, true
		case d.contentType == HardvmConfigType || bytes.HasPrefix(bytes.TrimLeft(d.body, "\r\n\t "), []byte(HardvmConfigMarker)):
			if hardvm {
				return nil, skipped, fmt.Errorf("%w: %s: a second %s document", ErrUserData, where, HardvmConfigMarker)
			}
			r, err := ParseHardvmConfig(d.body)
			if err != nil {
				return nil, skipped, inPart(where, err)
			}
			cfg.Registries, hardvm = r, true
		case kind == HostECS && (d.contentType == "" || d.contentType == "text/plain"):
			if ecs {
				return nil, skipped, fmt.Errorf("%w: %s: a second ecs.config document", ErrUserData, where)
			}
			s, err := ParseECSConfig(d.body)
			if err != nil {
				return nil, skipped, inPart(where, err)
			}
			cfg.ECS, ecs = s, true
		default:
			want := HardvmConfigMarker + " document"
			switch kind {
			case HostECS:
				want += " or ecs.config lines (KEY=VALUE)"
			case HostEKS:
				want += " or a NodeConfig (" + NodeConfigAPIVersion + ")"
			}
			return nil, skipped, fmt.Errorf("%w: %s is not for this %s host: want a %s", ErrUserData, where, kind, want)
		}
	}
	return cfg, skipped, nil
}

// ApplyContainers writes a container host's configuration under root
// from the user data (nil: none), replacing what an earlier boot wrote:
// containerd's config.toml and registry hosts always; ecs.config (ecs);
// the kubelet's configuration, kubeconfig, CA and environment (eks, when
// the user data has a NodeConfig). User data that is refused changes
// nothing (but for EnsureContainerDefaults) and the error wraps
// ErrUserData. Secrets (registry passwords,
// ECS_ENGINE_AUTH_DATA) are written 0600 and never logged.
func ApplyContainers(root string, kind HostKind, ud []byte, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &ContainerConfig{}
	if ud != nil {
		var skipped []string
		var err error
		cfg, skipped, err = ParseContainerUserData(kind, ud)
		for _, s := range skipped {
			log.Warn("user data part not for hardvm: left alone (hardvm runs no scripts and has no cloud-init)", "part", s)
		}
		if err != nil {
			if derr := EnsureContainerDefaults(root, kind); derr != nil {
				return errors.Join(err, derr)
			}
			return err
		}
	}
	return writeContainerFiles(root, kind, cfg, log)
}

// EnsureContainerDefaults writes containerd's and Docker's configuration
// without anything from user data when no boot wrote one yet (a machine
// without metadata, or whose first user data was refused): containerd is
// started with that file and does not start without it. An existing
// configuration is left alone.
func EnsureContainerDefaults(root string, kind HostKind) error {
	if _, err := os.Stat(filepath.Join(root, ContainerdConfig)); err == nil {
		return nil
	}
	return writeContainerFiles(root, kind, &ContainerConfig{}, slog.New(slog.DiscardHandler))
}

func writeContainerFiles(root string, kind HostKind, cfg *ContainerConfig, log *slog.Logger) error {
	files, err := containerFiles(kind, cfg)
	if err != nil {
		return err
	}
	// Replace, not merge: the directories hold exactly this boot's files.
	for _, d := range []string{ContainerdHostsDir, EKSDir, filepath.Dir(ECSConfig)} {
		if err := os.RemoveAll(filepath.Join(root, d)); err != nil {
			return fmt.Errorf("%w: %w", ErrApply, err)
		}
	}
	for _, d := range []string{CNIBinDir, CNIConfDir} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("%w: %w", ErrApply, err)
		}
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("%w: %w", ErrApply, err)
		}
		if err := atomicfile.WriteBytes(p, f.mode, f.data); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrApply, f.path, err)
		}
	}
	names := make([]string, 0, len(cfg.Registries))
	for _, r := range cfg.Registries {
		names = append(names, r.Host)
	}
	log.Info("container host configured", "kind", string(kind), "registries", strings.Join(names, " "),
		"ecs_keys", strings.Join(ecsKeys(cfg.ECS), " "), "node_config", cfg.Node != nil)
	return nil
}

// oneYAMLDocument decodes the only YAML document of b into v with
// unknown keys refused: a second document would otherwise be ignored.
func oneYAMLDocument(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return errors.New(redactYAMLError(err))
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

// outFile is one file ApplyContainers writes.
type outFile struct {
	path string
	mode fs.FileMode
	data []byte
}

// containerFiles renders cfg for kind.
func containerFiles(kind HostKind, cfg *ContainerConfig) ([]outFile, error) {
	regs := slices.Clone(cfg.Registries)
	dj, err := dockerConfig(regs)
	if err != nil {
		return nil, err
	}
	files := []outFile{{ContainerdConfig, 0o600, []byte(containerdConfig(regs))}, {DockerConfig, 0o644, dj}}
	for _, r := range regs {
		files = append(files, outFile{ContainerdHostsDir + "/" + r.Host + "/hosts.toml", 0o644, []byte(r.hostsTOML())})
	}
	if kind == HostECS && len(cfg.ECS) > 0 {
		files = append(files, outFile{ECSConfig, 0o600, renderECSConfig(cfg.ECS)})
	}
	if kind == HostEKS && cfg.Node != nil {
		nf, err := cfg.Node.files()
		if err != nil {
			return nil, err
		}
		files = append(files, nf...)
	}
	return files, nil
}
