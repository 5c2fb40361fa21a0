package agent

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// NodeConfigAPIVersion is the apiVersion of the NodeConfig EKS documents
// for current AMIs (nodeadm).
const NodeConfigAPIVersion = "node.eks.aws/v1alpha1"

// NodeConfig is an EKS node's configuration from user data, checked:
//
//	apiVersion: node.eks.aws/v1alpha1
//	kind: NodeConfig
//	spec:
//	  cluster:
//	    name: my-cluster
//	    apiServerEndpoint: https://example.eks.amazonaws.com
//	    certificateAuthority: LS0tLS1CRUdJTi...   # base64 of the PEM bundle
//	    cidr: 10.100.0.0/16                      # the service CIDR
//	  kubelet:
//	    config:                                  # KubeletConfiguration fields, over hardvm's
//	      maxPods: 58
//	    flags:
//	      - --node-labels=team=a,tier=web
//	      - --register-with-taints=dedicated=web:NoSchedule
//
// What nodeadm also reads and hardvm refuses rather than ignores:
// spec.containerd (hardvm writes containerd's configuration; registries
// come from a #hardvm-config document), spec.instance, spec.featureGates
// and kubelet flags other than the two above.
type NodeConfig struct {
	ClusterName string
	Endpoint    string
	CA          []byte // PEM, every block a certificate that parses
	ServiceCIDR netip.Prefix
	MaxPods     int
	Labels      []string         // key=value, sorted
	Taints      []map[string]any // registerWithTaints entries
	Kubelet     map[string]any   // kubelet.config as given (checked fields)
}

type nodeConfigDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   any    `yaml:"metadata"`
	Spec       struct {
		Cluster struct {
			Name                 string `yaml:"name"`
			APIServerEndpoint    string `yaml:"apiServerEndpoint"`
			CertificateAuthority string `yaml:"certificateAuthority"`
			CIDR                 string `yaml:"cidr"`
		} `yaml:"cluster"`
		Kubelet struct {
			Config map[string]any `yaml:"config"`
			Flags  []string       `yaml:"flags"`
		} `yaml:"kubelet"`
	} `yaml:"spec"`
}

var (
	eksClusterRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`)
	// A label: an optional DNS-subdomain prefix and a name; a value of up
	// to 63 characters (Kubernetes' syntax).
	labelKeyRe   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValueRe = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
)

// kubeletFields are the KubeletConfiguration (kubelet.config.k8s.io/v1beta1)
// fields a NodeConfig may set, with the JSON kind each must have. Others
// are refused: hardvm sets the authentication, the runtime endpoint and
// the cgroup driver itself.
var kubeletFields = map[string]string{
	"maxPods": "int", "clusterDNS": "[]string", "clusterDomain": "string", "registerWithTaints": "[]object",
	"kubeReserved": "map", "systemReserved": "map", "evictionHard": "map", "evictionSoft": "map",
	"evictionSoftGracePeriod": "map", "evictionPressureTransitionPeriod": "string", "imageGCHighThresholdPercent": "int",
	"imageGCLowThresholdPercent": "int", "podPidsLimit": "int", "cpuManagerPolicy": "string", "topologyManagerPolicy": "string",
	"featureGates": "map", "serializeImagePulls": "bool", "maxParallelImagePulls": "int", "containerLogMaxSize": "string",
	"containerLogMaxFiles": "int", "registryPullQPS": "int", "registryBurst": "int", "kubeAPIQPS": "int", "kubeAPIBurst": "int",
	"eventRecordQPS": "int", "shutdownGracePeriod": "string", "shutdownGracePeriodCriticalPods": "string",
	"allowedUnsafeSysctls": "[]string", "providerID": "string", "podsPerCore": "int", "systemReservedCgroup": "string",
	"kubeReservedCgroup": "string", "enforceNodeAllocatable": "[]string", "cpuCFSQuota": "bool", "memorySwap": "map",
}

// looksLikeNodeConfig reports whether a document without a MIME type is
// a NodeConfig (nodeadm reads plain YAML too).
func looksLikeNodeConfig(b []byte) bool {
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || l == "---" {
			continue
		}
		if strings.HasPrefix(l, "apiVersion:") && strings.Contains(l, "node.eks.aws/") {
			return true
		}
		if !strings.HasPrefix(l, "kind:") {
			return false
		}
	}
	return false
}

// ParseNodeConfig parses and checks an EKS NodeConfig (YAML or JSON;
// unknown keys are refused). Errors wrap ErrUserData.
func ParseNodeConfig(b []byte) (*NodeConfig, error) {
	var doc nodeConfigDoc
	if err := oneYAMLDocument(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: NodeConfig: %v", ErrUserData, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: NodeConfig: %s", ErrUserData, fmt.Sprintf(format, a...))
	}
	if doc.APIVersion != NodeConfigAPIVersion || doc.Kind != "NodeConfig" {
		return nil, bad("apiVersion %q kind %q, want %s NodeConfig", doc.APIVersion, doc.Kind, NodeConfigAPIVersion)
	}
	c := doc.Spec.Cluster
	n := &NodeConfig{ClusterName: c.Name, MaxPods: 110}
	if !eksClusterRe.MatchString(c.Name) {
		return nil, bad("spec.cluster.name %q: want 1-100 letters, digits, hyphens and underscores", c.Name)
	}
	u, err := url.Parse(c.APIServerEndpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, bad("spec.cluster.apiServerEndpoint %q: want https://HOST[:PORT]", c.APIServerEndpoint)
	}
	n.Endpoint = "https://" + u.Host
	ca, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.CertificateAuthority), ""))
	if err != nil {
		return nil, bad("spec.cluster.certificateAuthority is not base64")
	}
	if err := checkPEMCerts(ca); err != nil {
		return nil, bad("spec.cluster.certificateAuthority: %s", err)
	}
	n.CA = ca
	if n.ServiceCIDR, err = netip.ParsePrefix(c.CIDR); err != nil || n.ServiceCIDR != n.ServiceCIDR.Masked() {
		return nil, bad("spec.cluster.cidr %q: want the service CIDR (10.100.0.0/16)", c.CIDR)
	}
	for k, v := range doc.Spec.Kubelet.Config {
		kind, ok := kubeletFields[k]
		if !ok {
			return nil, bad("spec.kubelet.config.%s is not a KubeletConfiguration field hardvm lets user data set", k)
		}
		if !jsonKind(v, kind) {
			return nil, bad("spec.kubelet.config.%s: want %s", k, kind)
		}
	}
	n.Kubelet = doc.Spec.Kubelet.Config
	if mp, ok := n.Kubelet["maxPods"].(int); ok {
		if mp < 1 || mp > 10000 {
			return nil, bad("spec.kubelet.config.maxPods %d not in 1-10000", mp)
		}
		n.MaxPods = mp
	}
	if dns, ok := n.Kubelet["clusterDNS"].([]any); ok {
		for _, d := range dns {
			if net.ParseIP(d.(string)) == nil {
				return nil, bad("spec.kubelet.config.clusterDNS: %q is not an IP address", d)
			}
		}
	}
	if t, ok := n.Kubelet["registerWithTaints"].([]any); ok {
		for _, e := range t {
			m := e.(map[string]any)
			tt, err := taint(fmt.Sprint(m["key"]), fmt.Sprint(m["value"]), fmt.Sprint(m["effect"]))
			if err != nil || len(m) > 3 || m["value"] == nil && len(m) > 2 {
				return nil, bad("spec.kubelet.config.registerWithTaints: want {key, value, effect} entries")
			}
			n.Taints = append(n.Taints, tt)
		}
	}
	for _, f := range doc.Spec.Kubelet.Flags {
		name, val, _ := strings.Cut(f, "=")
		switch name {
		case "--node-labels":
			for _, kv := range strings.Split(val, ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || !labelKeyRe.MatchString(k) || len(k) > 316 || !labelValueRe.MatchString(v) {
					return nil, bad("spec.kubelet.flags: label %q: want key=value in Kubernetes' label syntax", kv)
				}
				n.Labels = append(n.Labels, k+"="+v)
			}
		case "--register-with-taints":
			for _, t := range strings.Split(val, ",") {
				kv, effect, ok := strings.Cut(t, ":")
				k, v, _ := strings.Cut(kv, "=")
				tt, err := taint(k, v, effect)
				if !ok || err != nil {
					return nil, bad("spec.kubelet.flags: taint %q: want key[=value]:NoSchedule|PreferNoSchedule|NoExecute", t)
				}
				n.Taints = append(n.Taints, tt)
			}
		default:
			return nil, bad("spec.kubelet.flags: %q: hardvm accepts --node-labels and --register-with-taints", name)
		}
	}
	sort.Strings(n.Labels)
	return n, nil
}

func taint(k, v, effect string) (map[string]any, error) {
	if v == "<nil>" {
		v = ""
	}
	if !labelKeyRe.MatchString(k) || !labelValueRe.MatchString(v) {
		return nil, fmt.Errorf("taint key or value")
	}
	switch effect {
	case "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		return nil, fmt.Errorf("taint effect")
	}
	t := map[string]any{"key": k, "effect": effect}
	if v != "" {
		t["value"] = v
	}
	return t, nil
}

// jsonKind reports whether a YAML-decoded value has the kind named.
func jsonKind(v any, kind string) bool {
	switch kind {
	case "int":
		_, ok := v.(int)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "bool":
		_, ok := v.(bool)
		return ok
	case "map":
		m, ok := v.(map[string]any)
		return ok && jsonable(m)
	case "[]string", "[]object":
		l, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range l {
			if kind == "[]string" {
				if _, ok := e.(string); !ok {
					return false
				}
			} else if m, ok := e.(map[string]any); !ok || !jsonable(m) {
				return false
			}
		}
		return true
	}
	return false
}

// jsonable reports whether a YAML-decoded map holds only values JSON can
// carry (yaml.v3 gives map[string]any for string-keyed maps only).
func jsonable(v any) bool {
	switch t := v.(type) {
	case nil, bool, int, float64, string:
		return true
	case []any:
		for _, e := range t {
			if !jsonable(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for _, e := range t {
			if !jsonable(e) {
				return false
			}
		}
		return true
	}
	return false
}

// checkPEMCerts requires b to be one or more PEM CERTIFICATE blocks that
// parse as X.509, and nothing else.
func checkPEMCerts(b []byte) error {
	rest := bytes.TrimSpace(b)
	n := 0
	for len(rest) > 0 {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return fmt.Errorf("want PEM CERTIFICATE blocks")
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
		rest = bytes.TrimSpace(rest)
	}
	if n == 0 {
		return fmt.Errorf("no certificate")
	}
	return nil
}

// clusterDNS is the cluster DNS service's address nodeadm derives from
// the service CIDR: the tenth address (IPv4) or ::a (IPv6).
func (n *NodeConfig) clusterDNS() string {
	a := n.ServiceCIDR.Addr().As16()
	a[15] += 10
	addr := netip.AddrFrom16(a)
	if n.ServiceCIDR.Addr().Is4() {
		addr = addr.Unmap()
	}
	return addr.String()
}

// KubeletConfiguration returns the kubelet's configuration: hardvm's
// (authentication by the cluster CA and webhook, containerd's socket,
// the systemd cgroup driver, the cluster DNS from the service CIDR, max
// pods, the taints) with the NodeConfig's kubelet.config fields over it.
func (n *NodeConfig) KubeletConfiguration() map[string]any {
	c := map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		"address":    "0.0.0.0",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true, "cacheTTL": "2m0s"},
			"x509":      map[string]any{"clientCAFile": ClusterCA},
		},
		"authorization": map[string]any{
			"mode":    "Webhook",
			"webhook": map[string]any{"cacheAuthorizedTTL": "5m0s", "cacheUnauthorizedTTL": "30s"},
		},
		"cgroupDriver":             "systemd",
		"containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
		"clusterDomain":            "cluster.local",
		"clusterDNS":               []any{n.clusterDNS()},
		"hairpinMode":              "hairpin-veth",
		"protectKernelDefaults":    true,
		"readOnlyPort":             0,
		"serializeImagePulls":      false,
		"serverTLSBootstrap":       true,
		"maxPods":                  n.MaxPods,
	}
	for k, v := range n.Kubelet {
		c[k] = v
	}
	if len(n.Taints) > 0 {
		t := make([]any, len(n.Taints))
		for i, e := range n.Taints {
			t[i] = e
		}
		c["registerWithTaints"] = t
	}
	return c
}

// files renders the NodeConfig: the CA, the kubeconfig, the kubelet's
// configuration and its environment file.
func (n *NodeConfig) files() ([]outFile, error) {
	kc, err := json.MarshalIndent(n.KubeletConfiguration(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: kubelet configuration: %w", ErrUserData, err)
	}
	type named struct {
		Name    string         `yaml:"name"`
		Cluster map[string]any `yaml:"cluster,omitempty"`
		Context map[string]any `yaml:"context,omitempty"`
		User    map[string]any `yaml:"user,omitempty"`
	}
	kubeconfig, err := yaml.Marshal(map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"clusters":        []named{{Name: "kubernetes", Cluster: map[string]any{"server": n.Endpoint, "certificate-authority": ClusterCA}}},
		"contexts":        []named{{Name: "kubelet", Context: map[string]any{"cluster": "kubernetes", "user": "kubelet"}}},
		"current-context": "kubelet",
		"users": []named{{Name: "kubelet", User: map[string]any{"exec": map[string]any{
			"apiVersion": "client.authentication.k8s.io/v1beta1",
			"command":    "/usr/bin/aws-iam-authenticator",
			"args":       []string{"token", "-i", n.ClusterName},
		}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: kubeconfig: %w", ErrUserData, err)
	}
	var env strings.Builder
	env.WriteString("# Written by hardvm-firstboot from this machine's NodeConfig at every boot; edits are lost.\n")
	args := ""
	if len(n.Labels) > 0 {
		args = "--node-labels=" + strings.Join(n.Labels, ",")
	}
	fmt.Fprintf(&env, "KUBELET_ARGS=%q\n", args)
	return []outFile{
		{ClusterCA, 0o644, n.CA},
		{Kubeconfig, 0o600, kubeconfig},
		{KubeletConfig, 0o644, append(kc, '\n')},
		{KubeletEnv, 0o644, []byte(env.String())},
	}, nil
}
