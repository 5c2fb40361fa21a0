package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Registry is one registry host containerd pulls from, as a
// #hardvm-config document gives it:
//
//	#hardvm-config
//	containerd:
//	  registries:
//	    - host: registry.example.com      # as image names spell it (host[:port]), or docker.io
//	      mirrors: ["https://mirror.example.com"]  # tried in order before the host
//	      insecure: false                 # skip TLS verification (mirrors and host)
//	      plainHTTP: false                # the host itself speaks HTTP, not HTTPS
//	      username: robot                 # credentials for the host, with password
//	      password: secret
//
// Mirrors go to containerd's hosts directory (HOST/hosts.toml, read by
// the CRI plugin through config_path and by `ctr --hosts-dir`);
// credentials go to the CRI plugin's registry.configs (the kubelet's
// pulls; ctr takes --user).
type Registry struct {
	Host      string   `yaml:"host"`
	Mirrors   []string `yaml:"mirrors"`
	Insecure  bool     `yaml:"insecure"`
	PlainHTTP bool     `yaml:"plainHTTP"`
	Username  string   `yaml:"username"`
	Password  string   `yaml:"password"`
}

// maxRegistries and maxMirrors bound a #hardvm-config document.
const (
	maxRegistries = 32
	maxMirrors    = 8
)

var hostRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$`)

// ParseHardvmConfig parses a #hardvm-config document (YAML; unknown keys
// are refused) and returns its registries, checked. Errors wrap
// ErrUserData and never quote a password.
func ParseHardvmConfig(b []byte) ([]Registry, error) {
	var doc struct {
		Containerd struct {
			Registries []Registry `yaml:"registries"`
		} `yaml:"containerd"`
	}
	if err := oneYAMLDocument(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUserData, HardvmConfigMarker, err)
	}
	regs := doc.Containerd.Registries
	if len(regs) > maxRegistries {
		return nil, fmt.Errorf("%w: %s: %d registries (at most %d)", ErrUserData, HardvmConfigMarker, len(regs), maxRegistries)
	}
	seen := map[string]bool{}
	for i, r := range regs {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("%w: %s: registry %d: %s", ErrUserData, HardvmConfigMarker, i+1, err)
		}
		if seen[r.Host] {
			return nil, fmt.Errorf("%w: %s: registry %q twice", ErrUserData, HardvmConfigMarker, r.Host)
		}
		seen[r.Host] = true
	}
	sort.Slice(regs, func(i, j int) bool { return regs[i].Host < regs[j].Host })
	return regs, nil
}

// redactYAMLError keeps yaml's line and reason but not the values it may
// quote (a password).
func redactYAMLError(err error) string {
	s := err.Error()
	if i := strings.Index(s, "`"); i >= 0 {
		s = s[:i] + "(value withheld)"
	}
	return s
}

func (r Registry) check() error {
	if !hostRe.MatchString(r.Host) || strings.Contains(r.Host, "..") {
		return fmt.Errorf("host %q: want a lower-case host name or address, with an optional :port", r.Host)
	}
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		if h == "" || p == "" || p[0] == '0' {
			return fmt.Errorf("host %q: bad port", r.Host)
		}
	}
	if len(r.Mirrors) > maxMirrors {
		return fmt.Errorf("%d mirrors (at most %d)", len(r.Mirrors), maxMirrors)
	}
	for _, m := range r.Mirrors {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !hostRe.MatchString(u.Host) || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(m, "\"\\ \t\r\n") {
			return fmt.Errorf("mirror %q: want http(s)://HOST[:PORT][/PATH]", m)
		}
	}
	if (r.Username == "") != (r.Password == "") {
		return fmt.Errorf("host %s: a username wants a password and the other way round", r.Host)
	}
	if strings.ContainsFunc(r.Username, badTOMLRune) || strings.Contains(r.Username, ":") {
		return fmt.Errorf("host %s: username has a colon or a control character", r.Host)
	}
	if strings.ContainsFunc(r.Password, badTOMLRune) {
		return fmt.Errorf("host %s: password has a control character", r.Host)
	}
	return nil
}

func badTOMLRune(c rune) bool { return c < 0x20 || c == 0x7f || c == 0xfffd }

// tomlString quotes s as a TOML basic string (s has no control
// characters: check refused them).
func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// server is the registry's own URL, as hosts.toml's server names it.
func (r Registry) server() string {
	scheme := "https"
	if r.PlainHTTP {
		scheme = "http"
	}
	if r.Host == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return scheme + "://" + r.Host
}

// hostsTOML renders HOST/hosts.toml (containerd's registry host
// configuration, docs/hosts.md).
func (r Registry) hostsTOML() string {
	var b strings.Builder
	b.WriteString("# Written by hardvm-firstboot from this machine's user data at every boot; edits are lost.\n")
	fmt.Fprintf(&b, "server = %s\n", tomlString(r.server()))
	if r.Insecure {
		b.WriteString("\n[host." + tomlString(r.server()) + "]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  skip_verify = true\n")
	}
	for _, m := range r.Mirrors {
		fmt.Fprintf(&b, "\n[host.%s]\n  capabilities = [\"pull\", \"resolve\"]\n", tomlString(m))
		if r.Insecure {
			b.WriteString("  skip_verify = true\n")
		}
	}
	return b.String()
}

// containerdConfig renders containerd's config.toml (version 2): the CRI
// plugin's registry hosts directory and credentials, the systemd cgroup
// driver the kubelet uses and the CNI directories on /var (the image's
// /opt/cni/bin and /etc/cni/net.d are symlinks to them, for CNI plugins
// that install themselves there).
func containerdConfig(regs []Registry) string {
	const cri = `plugins."io.containerd.grpc.v1.cri"`
	var b strings.Builder
	b.WriteString("# Written by hardvm-firstboot from this machine's user data at every boot; edits are lost.\n")
	b.WriteString("version = 2\n")
	b.WriteString("\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"/var/lib/containerd/opt\"\n")
	b.WriteString("\n[" + cri + "]\n")
	fmt.Fprintf(&b, "\n[%s.cni]\n  bin_dir = %s\n  conf_dir = %s\n", cri, tomlString(CNIBinDir), tomlString(CNIConfDir))
	b.WriteString("\n[" + cri + ".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n")
	b.WriteString("\n[" + cri + ".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n")
	fmt.Fprintf(&b, "\n[%s.registry]\n  config_path = %s\n", cri, tomlString(ContainerdHostsDir))
	for _, r := range regs {
		if r.Username == "" {
			continue
		}
		fmt.Fprintf(&b, "\n[%s.registry.configs.%s.auth]\n  username = %s\n  password = %s\n", cri, tomlString(r.Host), tomlString(r.Username), tomlString(r.Password))
	}
	return b.String()
}

// dockerConfig renders dockerd's daemon.json from the registries: hosts
// that are insecure or speak plain HTTP (and plain-HTTP or insecure
// mirrors) as insecure-registries, docker.io's mirrors as
// registry-mirrors (Docker mirrors Docker Hub only). Credentials are not
// Docker's business here: the ECS agent passes them per pull
// (ECS_ENGINE_AUTH_DATA).
func dockerConfig(regs []Registry) ([]byte, error) {
	cfg := struct {
		Insecure []string `json:"insecure-registries"`
		Mirrors  []string `json:"registry-mirrors"`
	}{Insecure: []string{}, Mirrors: []string{}}
	for _, r := range regs {
		if r.Insecure || r.PlainHTTP {
			cfg.Insecure = append(cfg.Insecure, r.Host)
		}
		for _, m := range r.Mirrors {
			u, err := url.Parse(m)
			if err != nil {
				return nil, fmt.Errorf("%w: mirror %q", ErrUserData, m)
			}
			if r.Host == "docker.io" {
				cfg.Mirrors = append(cfg.Mirrors, m)
			}
			if (u.Scheme == "http" || r.Insecure) && !slices.Contains(cfg.Insecure, u.Host) {
				cfg.Insecure = append(cfg.Insecure, u.Host)
			}
		}
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	return append(b, '\n'), err
}
