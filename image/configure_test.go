package image_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/vm"
)

func configTree(t *testing.T, osRelease bool, units ...string) *image.Rootfs {
	t.Helper()
	r, err := image.NewRootfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	pkg := image.FileAttr{Package: "base"}
	if err := r.MkdirAll("usr/lib/systemd/system", 0o755, pkg); err != nil {
		t.Fatal(err)
	}
	if err := r.MkdirAll("etc", 0o755, pkg); err != nil {
		t.Fatal(err)
	}
	if osRelease {
		if err := r.WriteFile("etc/os-release", strings.NewReader("ID=x\n"), 0o644, pkg); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.WriteFile("etc/group", strings.NewReader("root:x:0:\n"), 0o644, pkg); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		body := "[Unit]\n[Install]\nWantedBy=multi-user.target\nAlias=alias-" + u + "\nAlso=extra.service\n"
		if err := r.WriteFile("usr/lib/systemd/system/"+u, strings.NewReader(body), 0o644, pkg); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.WriteFile("usr/lib/systemd/system/extra.service", strings.NewReader("[Install]\nRequiredBy=sockets.target\n"), 0o644, pkg); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConfigure(t *testing.T) {
	spec := vm.Spec{Variant: "squid", Users: []vm.User{{Name: "bob", UID: 2000}}}
	r := configTree(t, true, "squid.service")
	cfg, err := image.Configure(r, spec)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Variant != "squid" || len(cfg.Accounts) == 0 || len(cfg.Sysctls) == 0 {
		t.Errorf("configuration report: %+v", cfg)
	}
	for name, want := range map[string]string{
		"etc/systemd/system/multi-user.target.wants/squid.service": "/usr/lib/systemd/system/squid.service",
		"etc/systemd/system/alias-squid.service":                   "/usr/lib/systemd/system/squid.service",
		"etc/systemd/system/sockets.target.requires/extra.service": "/usr/lib/systemd/system/extra.service",
	} {
		if got, err := r.ReadLink(name); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", name, got, err, want)
		}
	}
	if target, err := r.ReadLink("home"); err != nil || target != "var/home" {
		t.Errorf("/home -> %q (%v), want var/home", target, err)
	}
	if passwd, _ := r.ReadFile("etc/passwd"); !strings.Contains(string(passwd), "bob:x:2000:2000::/home/bob:") {
		t.Errorf("passwd without bob:\n%s", passwd)
	}
	sysctl, _ := r.ReadFile("usr/lib/sysctl.d/99-hardvm-baseline.conf")
	if !strings.Contains(string(sysctl), "net.ipv4.ip_forward = 0\n") {
		t.Errorf("an application image must not forward: %s", sysctl)
	}

	tests := []struct {
		name string
		tree *image.Rootfs
		spec vm.Spec
	}{
		{"unit no package ships", configTree(t, true), vm.Spec{Variant: "squid"}},
		{"os-release missing", configTree(t, false, "squid.service"), vm.Spec{Variant: "squid"}},
		{"bad user name", configTree(t, true, "squid.service"), vm.Spec{Variant: "squid", Users: []vm.User{{Name: "Bad Name"}}}},
		{"unknown group", configTree(t, true, "squid.service"), vm.Spec{Variant: "squid", Users: []vm.User{{Name: "x", Groups: []string{"nope"}}}}},
		{"system uid", configTree(t, true, "squid.service"), vm.Spec{Variant: "squid", Users: []vm.User{{Name: "x", UID: 10}}}},
		{"unknown variant", configTree(t, true), vm.Spec{Variant: "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := image.Configure(tt.tree, tt.spec); !errors.Is(err, image.ErrConfigure) {
				t.Fatalf("err = %v, want ErrConfigure", err)
			}
		})
	}
	// os-release written by the build, not a package, is refused.
	r = configTree(t, false, "squid.service")
	r.WriteFile("etc/os-release", strings.NewReader("ID=fake\n"), 0o644, image.FileAttr{})
	if _, err := image.Configure(r, vm.Spec{Variant: "squid"}); !errors.Is(err, image.ErrConfigure) {
		t.Fatalf("os-release from the build: err = %v, want ErrConfigure", err)
	}
}
