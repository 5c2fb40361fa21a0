package agent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The container hosts' user-data parsers on arbitrary bytes: never
// panic, refuse with ErrUserData, and what they accept renders (the
// renderers' output is then bounded and free of control characters that
// would break TOML or ecs.config lines).
func FuzzContainerUserData(f *testing.F) {
	ca := testCA(f)
	for _, s := range []string{
		"ECS_CLUSTER=a\nECS_ENABLE_TASK_IAM_ROLE=true\n",
		"#!/bin/bash\necho ECS_CLUSTER=a >> /etc/ecs/ecs.config\n",
		"#hardvm-config\ncontainerd:\n  registries:\n    - host: r.example:5000\n      mirrors: [\"http://10.0.2.2:5000\"]\n      username: u\n      password: p\n",
		nodeConfig(ca, "  kubelet:\n    config: {maxPods: 20}\n    flags: [\"--node-labels=a=b\", \"--register-with-taints=k=v:NoSchedule\"]\n"),
		string(mimeDoc([2]string{NodeConfigType, nodeConfig(ca, "")}, [2]string{"text/x-shellscript", "#!/bin/sh\ntrue"})),
		string(mimeDoc([2]string{"text/plain", "ECS_CLUSTER=a"}, [2]string{HardvmConfigType, "containerd: {}"})),
		"#cloud-config\n",
	} {
		for k := range 3 {
			f.Add(uint8(k), []byte(s))
		}
	}
	kinds := []HostKind{HostPlain, HostECS, HostEKS}
	f.Fuzz(func(t *testing.T, k uint8, ud []byte) {
		kind := kinds[int(k)%len(kinds)]
		cfg, _, err := ParseContainerUserData(kind, ud)
		if err != nil {
			if !errors.Is(err, ErrUserData) {
				t.Fatalf("error %v does not wrap ErrUserData", err)
			}
			return
		}
		files, err := containerFiles(kind, cfg)
		if err != nil {
			if !errors.Is(err, ErrUserData) {
				t.Fatalf("render: %v", err)
			}
			return
		}
		for _, fl := range files {
			if strings.HasSuffix(fl.path, ".json") && !json.Valid(fl.data) {
				t.Fatalf("%s is not JSON:\n%s", fl.path, fl.data)
			}
			if strings.HasSuffix(fl.path, ".toml") || strings.HasSuffix(fl.path, ".config") {
				for _, c := range string(fl.data) {
					if c != '\n' && badTOMLRune(c) {
						t.Fatalf("%s has control character %q", fl.path, c)
					}
				}
			}
			if strings.Contains(fl.path, "..") {
				t.Fatalf("path %s", fl.path)
			}
		}
	})
}

// FuzzECSConfig: ecs.config lines; what is accepted renders one line per
// setting.
func FuzzECSConfig(f *testing.F) {
	f.Add([]byte("ECS_CLUSTER=a\nECS_RESERVED_PORTS=[22]\n"))
	f.Add([]byte("#!/bin/bash\necho 'ECS_CLUSTER=b' >> /etc/ecs/ecs.config\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseECSConfig(b)
		if err != nil {
			if !errors.Is(err, ErrUserData) {
				t.Fatal(err)
			}
			return
		}
		if got := strings.Count(string(renderECSConfig(s)), "\n"); got != len(s)+1 {
			t.Fatalf("%d settings rendered as %d lines", len(s), got)
		}
	})
}

// FuzzNodeConfig: NodeConfig YAML; what is accepted gives a kubelet
// configuration that marshals.
func FuzzNodeConfig(f *testing.F) {
	ca := testCA(f)
	f.Add([]byte(nodeConfig(ca, "")))
	f.Add([]byte(nodeConfig(ca, "  kubelet:\n    config:\n      maxPods: 7\n      registerWithTaints: [{key: a, value: b, effect: NoExecute}]\n      featureGates: {X: true}\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNodeConfig(b)
		if err != nil {
			if !errors.Is(err, ErrUserData) {
				t.Fatal(err)
			}
			return
		}
		if _, err := n.files(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzHardvmConfig: #hardvm-config documents.
func FuzzHardvmConfig(f *testing.F) {
	f.Add([]byte("#hardvm-config\ncontainerd:\n  registries:\n    - host: docker.io\n      mirrors: [\"https://m.example\"]\n      insecure: true\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		regs, err := ParseHardvmConfig(b)
		if err != nil {
			if !errors.Is(err, ErrUserData) {
				t.Fatal(err)
			}
			return
		}
		for _, r := range regs {
			if strings.ContainsAny(r.Host, "/\\ \"") || r.Host == "" {
				t.Fatalf("host %q", r.Host)
			}
			_ = r.hostsTOML()
		}
		_ = containerdConfig(regs)
	})
}
