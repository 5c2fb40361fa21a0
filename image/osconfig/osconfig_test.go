package osconfig_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/image/osconfig"
	"github.com/hardvm/hardvm/vm"
)

const (
	wantedBy   = "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
	testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIc+FeVLqo4TIwv6W2nhTw/SvZUJxs1BqWL03T4oYUA6 ops@test"
)

// debianLike is a tree laid out as debrepo's repackaged Debian packages
// are: merged /usr, ssh.service with Alias=sshd.service, sysusers.d and
// tmpfiles.d as Debian's systemd ships them, package files under /var.
func debianLike() *memTree {
	return newTree().put(map[string]string{
		"bin": "->usr/bin", "sbin": "->usr/sbin", "lib": "->usr/lib",
		"usr/bin/": "", "usr/sbin/": "", "usr/lib/": "", "etc/": "", "home/": "", "run/": "",
		"etc/os-release":                       "ID=debian\n",
		"etc/passwd":                           "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":                            "root:x:0:\nnobody:x:65534:\n",
		"etc/shadow":                           "root:!*:::::::\n",
		"etc/ssh/sshd_config":                  "# Debian's\nInclude /etc/ssh/other.conf\nUsePAM yes\n",
		"usr/sbin/sshd":                        "ELF",
		"usr/bin/ssh-keygen":                   "ELF",
		"usr/sbin/nologin":                     "ELF",
		"usr/sbin/fsck":                        "ELF",
		"usr/sbin/fsck.ext4":                   "ELF",
		"usr/bin/systemd-repart":               "ELF",
		"usr/lib/systemd/system/ssh.service":   wantedBy + "Alias=sshd.service\n",
		"usr/lib/systemd/system/nginx.service": wantedBy,
		"usr/lib/systemd/system/systemd-networkd.service":  wantedBy + "Also=systemd-networkd.socket\n",
		"usr/lib/systemd/system/systemd-networkd.socket":   "[Install]\nWantedBy=sockets.target\n",
		"usr/lib/systemd/system/systemd-journald.service":  "[Unit]\nDescription=static\n",
		"usr/lib/systemd/system/systemd-firstboot.service": "[Unit]\nConditionFirstBoot=yes\n",
		"usr/lib/systemd/system/serial-getty@.service":     "[Install]\nWantedBy=getty.target\n",
		"usr/lib/sysusers.d/basic.conf": "# comment\ng adm 4 -\ng foo - -\nu daemon 1 - /usr/sbin /usr/sbin/nologin\n" +
			"u root 0 \"Super User\" /root\n",
		"usr/lib/sysusers.d/dbus.conf":            "u messagebus - \"System Message Bus\"\n",
		"usr/lib/sysusers.d/systemd-journal.conf": "g systemd-journal - -\nm messagebus systemd-journal\n",
		"usr/lib/tmpfiles.d/home.conf":            "Q /home 0755 - - -\nq /srv 0755 - - -\n",
		"usr/lib/tmpfiles.d/debian.conf":          "L+ /etc/mtab - - - - ../proc/self/mounts\n",
		"usr/lib/tmpfiles.d/var.conf":             "d /var/log 0755 - - -\n",
		"var/log/":                                "",
		"var/lib/nginx/":                          "",
		"var/lib/":                                "", "var/www/": "", "var/www/html/": "",
		"var/www/html/index.html": "<h1>page</h1>\n",
		"var/run":                 "->../run",
	})
}

func nginxSpec() vm.Spec {
	return vm.Spec{Variant: "nginx", Hostname: "web1",
		Users: []vm.User{{Name: "ops", SSHKeys: []string{testSSHKey}, Groups: []string{"adm"}}}}
}

func read(t *testing.T, tr *memTree, name string) string {
	t.Helper()
	b, err := tr.ReadFile(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}

func TestApply(t *testing.T) {
	tr := debianLike()
	cfg, err := osconfig.Apply(tr, nginxSpec())
	if err != nil {
		t.Fatal(err)
	}

	// Accounts: the table's fixed IDs, sysusers.d's allowed accounts,
	// the spec's login user; daemon is not allowed.
	passwd := read(t, tr, "etc/passwd")
	for _, want := range []string{
		"root:x:0:0:root:/root:/bin/sh\n",
		"sshd:x:74:74:OpenSSH privilege separation:/nonexistent:/usr/sbin/nologin\n",
		"messagebus:x:81:81:D-Bus system bus:/nonexistent:/usr/sbin/nologin\n",
		"systemd-network:x:192:192:",
		"nginx:x:201:201:nginx web server:/var/lib/nginx:/usr/sbin/nologin\n",
		"ops:x:1000:1000::/home/ops:/bin/sh\n",
	} {
		if !strings.Contains(passwd, want) {
			t.Errorf("passwd lacks %q:\n%s", want, passwd)
		}
	}
	if strings.Contains(passwd, "daemon") || !slices.Contains(cfg.Skipped, "daemon") {
		t.Errorf("daemon (not in the baseline's users) was created, or not reported: skipped %v", cfg.Skipped)
	}
	group := read(t, tr, "etc/group")
	for _, want := range []string{"adm:x:4:ops\n", "systemd-journal:x:190:messagebus\n", "foo:x:900:\n", "nginx:x:201:\n", "ops:x:1000:\n", "kvm:x:105:\n"} {
		if !strings.Contains(group, want) {
			t.Errorf("group lacks %q:\n%s", want, group)
		}
	}
	shadow := read(t, tr, "etc/shadow")
	for _, want := range []string{"root:!*:::::::\n", "nginx:!*:::::::\n", "ops:*:::::::\n"} {
		if !strings.Contains(shadow, want) {
			t.Errorf("shadow lacks %q:\n%s", want, shadow)
		}
	}
	if o, _ := tr.Owner("etc/shadow"); o != (osconfig.Owner{}) {
		t.Errorf("shadow owned by %v", o)
	}

	// Units.
	for link, target := range map[string]string{
		"etc/systemd/system/multi-user.target.wants/nginx.service":            "/usr/lib/systemd/system/nginx.service",
		"etc/systemd/system/multi-user.target.wants/ssh.service":              "/usr/lib/systemd/system/ssh.service",
		"etc/systemd/system/sshd.service":                                     "/usr/lib/systemd/system/ssh.service",
		"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": "/usr/lib/systemd/system/systemd-networkd.service",
		"etc/systemd/system/sockets.target.wants/systemd-networkd.socket":     "/usr/lib/systemd/system/systemd-networkd.socket",
		"etc/systemd/system/systemd-firstboot.service":                        "/dev/null",
		"etc/systemd/system/serial-getty@.service":                            "/dev/null",
	} {
		if got, err := tr.ReadLink(link); err != nil || got != target {
			t.Errorf("%s -> %q (%v), want %s", link, got, err, target)
		}
	}
	if want := []string{"nginx.service", "ssh.service", "systemd-networkd.service", "systemd-networkd.socket"}; !slices.Equal(cfg.Units, want) {
		t.Errorf("units %v, want %v", cfg.Units, want)
	}
	if len(cfg.Masked) != 2 {
		t.Errorf("masked %+v", cfg.Masked)
	}

	// The SSH server.
	dropin := read(t, tr, "etc/ssh/sshd_config.d/10-hardvm.conf")
	for _, want := range []string{"PermitRootLogin no\n", "PasswordAuthentication no\n", "UsePAM no\n",
		"HostKey /var/lib/ssh/ssh_host_ed25519_key\n", "AuthorizedKeysFile /var/lib/hardvm/ssh/%u/authorized_keys /etc/ssh/authorized_keys.d/%u\n"} {
		if !strings.Contains(dropin, want) {
			t.Errorf("sshd drop-in lacks %q:\n%s", want, dropin)
		}
	}
	if main := read(t, tr, "etc/ssh/sshd_config"); !strings.HasPrefix(main, "Include /etc/ssh/sshd_config.d/*.conf\n# Debian's\n") {
		t.Errorf("sshd_config does not Include the drop-ins first:\n%s", main)
	}
	if u := read(t, tr, "usr/lib/systemd/system/hardvm-ssh-keygen@.service"); !strings.Contains(u, "ExecStart=/usr/bin/ssh-keygen -q -t %i -N \"\" -C \"\" -f /var/lib/ssh/ssh_host_%i_key\n") ||
		!strings.Contains(u, "ConditionPathExists=!/var/lib/ssh/ssh_host_%i_key\n") {
		t.Errorf("keygen unit:\n%s", u)
	}
	if d := read(t, tr, "etc/systemd/system/ssh.service.d/10-hardvm.conf"); !strings.Contains(d, "After=hardvm-ssh-keygen@ed25519.service hardvm-ssh-keygen@ecdsa.service hardvm-firstboot.service\n") {
		t.Errorf("sshd ordering drop-in:\n%s", d)
	}
	if k := read(t, tr, "etc/ssh/authorized_keys.d/ops"); k != testSSHKey+"\n" {
		t.Errorf("spec keys %q", k)
	}

	// Network, state, baseline.
	if n := read(t, tr, "usr/lib/systemd/network/80-hardvm-dhcp.network"); !strings.Contains(n, "DHCP=yes") || cfg.Network == "" {
		t.Errorf("network %q %q", cfg.Network, n)
	}
	fstab := read(t, tr, "etc/fstab")
	for _, want := range []string{"PARTLABEL=var /var ext4 nodev,nosuid,noexec,x-systemd.growfs 0 2\n", "tmpfs /tmp tmpfs nodev,nosuid,noexec,mode=1777 0 0\n"} {
		if !strings.Contains(fstab, want) {
			t.Errorf("fstab lacks %q:\n%s", want, fstab)
		}
	}
	if strings.Contains(fstab, "/home") {
		t.Errorf("fstab mounts /home, which lives on /var:\n%s", fstab)
	}
	if r := read(t, tr, "usr/lib/repart.d/50-hardvm-var.conf"); !strings.Contains(r, "Type=var\nLabel=var\n") {
		t.Errorf("repart.d: %s", r)
	}
	if s := read(t, tr, "usr/lib/sysctl.d/99-hardvm-baseline.conf"); !strings.Contains(s, "net.ipv4.ip_forward = 0\n") {
		t.Errorf("sysctl.d:\n%s", s)
	}
	if l, _ := tr.ReadLink("home"); l != "var/home" {
		t.Errorf("/home -> %q", l)
	}
	dirs := read(t, tr, "usr/lib/tmpfiles.d/00-hardvm.conf")
	for _, want := range []string{"d /var/log/nginx 0750 201 4 -\n", "d /var/lib/nginx 0750 201 201 -\n", "d /var/home 0755 0 0 -\n", "d /var/home/ops 0700 1000 1000 -\n"} {
		if !strings.Contains(dirs, want) {
			t.Errorf("00-hardvm.conf lacks %q:\n%s", want, dirs)
		}
	}
	factory := read(t, tr, "usr/lib/tmpfiles.d/zz-hardvm-factory.conf")
	for _, want := range []string{"d /var/www/html 0755 0 0 -\n", "C /var/www/html/index.html - - - - /usr/share/factory/var/www/html/index.html\n", "L /var/run - - - - ../run\n"} {
		if !strings.Contains(factory, want) {
			t.Errorf("factory lacks %q:\n%s", want, factory)
		}
	}
	if strings.Contains(factory, "/var/log ") {
		t.Errorf("factory repeats /var/log, which var.conf makes:\n%s", factory)
	}
	if read(t, tr, "usr/share/factory/var/www/html/index.html") != "<h1>page</h1>\n" {
		t.Error("factory copy differs")
	}
	if tr.files["usr/share/factory/var/www/html/index.html"] != tr.files["var/www/html/index.html"] {
		t.Error("the factory copy is not a hardlink")
	}
	if l, _ := tr.ReadLink("etc/mtab"); l != "../proc/self/mounts" {
		t.Errorf("/etc/mtab -> %q: tmpfiles cannot make it on a read-only /etc", l)
	}
	if h := read(t, tr, "etc/tmpfiles.d/home.conf"); !strings.Contains(h, "# Q /home 0755") || !strings.Contains(h, "\nq /srv 0755 - - -\n") {
		t.Errorf("home.conf override:\n%s", h)
	}
	if read(t, tr, "etc/machine-id") != "" || read(t, tr, "etc/hostname") != "web1\n" {
		t.Error("machine-id or hostname")
	}
	if !slices.IsSorted(cfg.Files) || !slices.Contains(cfg.Files, "/etc/passwd") || !slices.Contains(cfg.Files, "/etc/fstab") {
		t.Errorf("files %v", cfg.Files)
	}
	if len(cfg.Cmdline) == 0 || len(cfg.Mounts) == 0 || cfg.SSHD == nil || cfg.Family != vm.Application {
		t.Errorf("report %+v", cfg)
	}
}

// TestApplyReproducible: the same tree and spec give the same files.
func TestApplyReproducible(t *testing.T) {
	a, b := debianLike(), debianLike()
	ca, err := osconfig.Apply(a, nginxSpec())
	if err != nil {
		t.Fatal(err)
	}
	cb, err := osconfig.Apply(b, nginxSpec())
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(ca)
	jb, _ := json.Marshal(cb)
	if string(ja) != string(jb) {
		t.Errorf("reports differ:\n%s\n%s", ja, jb)
	}
	for _, f := range ca.Files {
		n := strings.TrimPrefix(f, "/")
		if fa, fb := a.files[n], b.files[n]; fa == nil || fb == nil || string(fa.Data) != string(fb.Data) || fa.Mode != fb.Mode {
			t.Errorf("%s differs", f)
		}
	}
}

func TestApplyWithoutOptionalParts(t *testing.T) {
	// A tree with no SSH server, no networkd, no fsck, no repart, no
	// getty units: nothing of theirs is written.
	tr := newTree().put(map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "etc/group": "root:x:0:\n", "usr/bin/": "",
		"usr/lib/systemd/system/squid.service": wantedBy,
	})
	cfg, err := osconfig.Apply(tr, vm.Spec{Variant: "squid"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SSHD != nil || cfg.Network != "" || len(cfg.Masked) != 0 {
		t.Errorf("report %+v", cfg)
	}
	for _, absent := range []string{"etc/ssh/sshd_config.d/10-hardvm.conf", "usr/lib/repart.d/50-hardvm-var.conf", "usr/lib/systemd/network/80-hardvm-dhcp.network"} {
		if _, err := tr.Stat(absent); err == nil {
			t.Errorf("%s written", absent)
		}
	}
	if f := read(t, tr, "etc/fstab"); !strings.Contains(f, "PARTLABEL=var /var ext4 nodev,nosuid,noexec,x-systemd.growfs 0 0\n") {
		t.Errorf("without fsck, /var is not checked at boot (pass 0):\n%s", f)
	}
	if !strings.Contains(read(t, tr, "etc/passwd"), "squid:x:202:202:") {
		t.Error("squid account")
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name string
		tree func() *memTree
		spec vm.Spec
	}{
		{"unknown variant", debianLike, vm.Spec{Variant: "nope"}},
		{"variant unit not shipped", debianLike, vm.Spec{Variant: "squid"}},
		{"sshd without ssh-keygen", func() *memTree { tr := debianLike(); delete(tr.files, "usr/bin/ssh-keygen"); return tr }, nginxSpec()},
		{"files in /home", func() *memTree { return debianLike().put(map[string]string{"home/x": "y"}) }, nginxSpec()},
		{"bad user name", debianLike, vm.Spec{Variant: "nginx", Users: []vm.User{{Name: "Bad Name"}}}},
		{"system uid", debianLike, vm.Spec{Variant: "nginx", Users: []vm.User{{Name: "x", UID: 10}}}},
		{"user exists", debianLike, vm.Spec{Variant: "nginx", Users: []vm.User{{Name: "nginx"}}}},
		{"unknown group", debianLike, vm.Spec{Variant: "nginx", Users: []vm.User{{Name: "x", Groups: []string{"nope"}}}}},
		{"multi-line key", debianLike, vm.Spec{Variant: "nginx", Users: []vm.User{{Name: "x", SSHKeys: []string{"a\nb"}}}}},
		{"fixed uid taken", func() *memTree {
			return debianLike().put(map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\nweb:x:201:201::/:/bin/sh\n"})
		}, nginxSpec()},
		{"fixed gid taken", func() *memTree {
			return debianLike().put(map[string]string{"etc/group": "root:x:0:\nwheel:x:4:\n"})
		}, nginxSpec()},
		{"malformed passwd", func() *memTree { return debianLike().put(map[string]string{"etc/passwd": "root:x:0\n"}) }, nginxSpec()},
		{"malformed group", func() *memTree { return debianLike().put(map[string]string{"etc/group": "root:x:zero:\n"}) }, nginxSpec()},
		{"unterminated quote", func() *memTree {
			return debianLike().put(map[string]string{"usr/lib/sysusers.d/bad.conf": "u x - \"oops\n"})
		}, nginxSpec()},
		{"bad sysusers group", func() *memTree {
			return debianLike().put(map[string]string{"usr/lib/sysusers.d/bad.conf": "g Bad-Group - -\n"})
		}, nginxSpec()},
		{"home is a file", func() *memTree { return debianLike().put(map[string]string{"home": "x"}) }, nginxSpec()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := osconfig.Apply(tt.tree(), tt.spec); !errors.Is(err, osconfig.ErrConfigure) {
				t.Fatalf("err = %v, want ErrConfigure", err)
			}
		})
	}
}

func TestEnableUnit(t *testing.T) {
	tr := newTree().put(map[string]string{
		"usr/lib/systemd/system/a.service": "[Install]\nWantedBy=multi-user.target\nRequiredBy=b.target\nAlso=c.service\n",
		"lib/systemd/system/c.service":     "[Install]\nAlias=cc.service\nAlso=a.service\n",
		"usr/lib/systemd/system/static":    "[Unit]\n",
	})
	got, err := osconfig.EnableUnit(tr, "a.service")
	if err != nil || !slices.Equal(got, []string{"a.service", "c.service"}) {
		t.Fatalf("EnableUnit = %v, %v", got, err)
	}
	for link, target := range map[string]string{
		"etc/systemd/system/multi-user.target.wants/a.service": "/usr/lib/systemd/system/a.service",
		"etc/systemd/system/b.target.requires/a.service":       "/usr/lib/systemd/system/a.service",
		"etc/systemd/system/cc.service":                        "/lib/systemd/system/c.service",
	} {
		if l, err := tr.ReadLink(link); err != nil || l != target {
			t.Errorf("%s -> %q, %v", link, l, err)
		}
	}
	// An alias enables the unit that declares it.
	if got, err := osconfig.EnableUnit(tr, "cc.service"); err != nil || got[0] != "c.service" {
		t.Errorf("by alias: %v, %v", got, err)
	}
	for _, bad := range []string{"static", "missing.service", "a/b.service", ""} {
		if _, err := osconfig.EnableUnit(tr, bad); !errors.Is(err, osconfig.ErrConfigure) {
			t.Errorf("EnableUnit(%q) = %v", bad, err)
		}
	}
	if !osconfig.UnitShipped(tr, "cc.service") || osconfig.UnitShipped(tr, "missing.service") {
		t.Error("UnitShipped")
	}
}

// TestApplyFirstbootAgent: a spec for a platform gets the first-boot agent
// for its metadata sources, enabled, with the spec's first user; sshd
// reads keys where the agent writes them.
func TestApplyFirstbootAgent(t *testing.T) {
	tr := debianLike()
	spec := nginxSpec()
	spec.Platform, spec.Arch = vm.QEMU, vm.X86_64
	cfg, err := osconfig.Apply(tr, spec)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := tr.Stat(firstboot.ProgramPath)
	if err != nil || prog.Mode().Perm() != 0o755 || prog.Size() < 1<<20 {
		t.Fatalf("agent %v, %v", prog, err)
	}
	unit := read(t, tr, firstboot.UnitPath)
	if !strings.Contains(unit, "--source nocloud --user ops") {
		t.Errorf("agent unit:\n%s", unit)
	}
	if l, err := tr.ReadLink("etc/systemd/system/multi-user.target.wants/" + firstboot.UnitName); err != nil || l != "/"+firstboot.UnitPath {
		t.Errorf("agent not enabled: %q, %v", l, err)
	}
	if cfg.Firstboot == nil || cfg.Firstboot.User != "ops" || !slices.Equal(cfg.Firstboot.Sources, []vm.MetadataSource{vm.MetadataNoCloud}) ||
		!slices.Contains(cfg.Units, firstboot.UnitName) {
		t.Errorf("report: %+v, units %v", cfg.Firstboot, cfg.Units)
	}
	if vm.MetadataKeysFile != firstboot.AuthorizedKeysFile {
		t.Errorf("sshd reads metadata keys from %s, the agent writes %s", vm.MetadataKeysFile, firstboot.AuthorizedKeysFile)
	}
	// No platform: no agent.
	if _, err := osconfig.Apply(debianLike(), nginxSpec()); err != nil {
		t.Fatal(err)
	}
	// A platform that does not run the architecture.
	spec.Platform, spec.Arch = vm.VMware, vm.Aarch64
	if _, err := osconfig.Apply(debianLike(), spec); !errors.Is(err, osconfig.ErrConfigure) {
		t.Errorf("vmware/aarch64: %v", err)
	}
}
