package osconfig

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/vm"
)

// Apply configures tree for spec's variant (see the package documentation)
// and returns what it applied. The tree's packages must be installed;
// Apply does not check where /etc/os-release came from (image.Configure
// does). Errors wrap [ErrConfigure].
func Apply(t Tree, spec vm.Spec) (*vm.Configuration, error) {
	v, err := vm.LookupVariant(spec.Variant)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfigure, err)
	}
	base := vm.BaselineFor(v.Family)
	s := &state{t: t, files: map[string]bool{}}
	cfg := &vm.Configuration{Variant: v.Name, Family: v.Family, Cmdline: base.Cmdline, Sysctls: base.Sysctls, Mounts: base.Mounts}

	db, err := s.accounts(v, base, spec.Users, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.units(v, base, cfg); err != nil {
		return nil, err
	}
	if err := s.firstbootAgent(spec, cfg); err != nil {
		return nil, err
	}
	if err := s.sshd(base, cfg); err != nil {
		return nil, err
	}
	if err := s.network(cfg); err != nil {
		return nil, err
	}
	if err := s.state(v, base, db, spec.Users, cfg); err != nil {
		return nil, err
	}
	if err := s.baseline(base, cfg); err != nil {
		return nil, err
	}
	// Per machine, never baked in: systemd makes the machine ID at boot
	// (from the VM's UUID where the hypervisor gives one) and, /etc being
	// read-only, keeps it in /run.
	if err := s.write("etc/machine-id", nil, 0o444); err != nil {
		return nil, err
	}
	if spec.Hostname != "" {
		if err := s.write("etc/hostname", []byte(spec.Hostname+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	for f := range s.files {
		cfg.Files = append(cfg.Files, f)
	}
	sort.Strings(cfg.Files)
	return cfg, nil
}

// units enables the variant's units (which must be shipped) and the
// baseline's common services a package ships, and masks what would stop a
// headless boot.
func (s *state) units(v vm.Variant, base vm.Baseline, cfg *vm.Configuration) error {
	seen := map[string]bool{}
	for _, u := range v.Units {
		if err := s.enable(u, seen, &cfg.Units); err != nil {
			return err
		}
	}
	// The common services (sshd, networkd, …) are enabled when a package
	// ships them; static ones (journald) are started by what needs them.
	for _, u := range base.Services {
		if seen[u] || slices.Contains(v.Units, u) {
			continue
		}
		f, ok := findUnit(s.t, u)
		if !ok || seen[f.name] {
			continue
		}
		if in := parseInstall(f.data); len(in["WantedBy"])+len(in["RequiredBy"])+len(in["Alias"]) == 0 {
			continue
		}
		if err := s.enable(u, seen, &cfg.Units); err != nil {
			return err
		}
	}
	mask := func(unit, reason string) error {
		if err := s.mask(unit); err != nil {
			return err
		}
		cfg.Masked = append(cfg.Masked, vm.MaskedUnit{Unit: unit, Reason: reason})
		return nil
	}
	// systemd-firstboot prompts on the console for a locale, a time zone
	// and a root password whenever the machine ID is not committed, which
	// on a read-only /etc is every boot: the machine is configured from
	// metadata instead.
	if UnitShipped(s.t, "systemd-firstboot.service") {
		if err := mask("systemd-firstboot.service", "prompts on the console at every boot with a read-only /etc; first-boot settings come from metadata"); err != nil {
			return err
		}
	}
	// A getty without agetty would fail: with no console login program
	// (accounts have no password anyway), none is started.
	if s.binary("agetty") == "" {
		for _, u := range []string{"getty@.service", "serial-getty@.service", "console-getty.service"} {
			if UnitShipped(s.t, u) {
				if err := mask(u, "the image has no agetty"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sshd hardens the SSH server, when the image has one: settings of the
// baseline in a drop-in read first, host keys made per machine at first
// boot under /var, sshd ordered after them and after the first-boot agent.
func (s *state) sshd(base vm.Baseline, cfg *vm.Configuration) error {
	unit, ok := findUnit(s.t, "sshd.service")
	if !ok {
		return nil
	}
	keygen := s.binary("ssh-keygen")
	if keygen == "" {
		return errf("the image has an SSH server (%s) but no ssh-keygen to make its host keys", unit.name)
	}
	sd := base.SSHD
	var conf strings.Builder
	conf.WriteString("# hardvm hardening baseline for the SSH server; read before the\n# distribution's settings (the first value of a keyword wins).\n")
	for _, st := range sd.Settings {
		fmt.Fprintf(&conf, "# %s %s: %s\n%s %s\n", st.Control.Benchmark, st.Control.ID, st.Control.Title, st.Keyword, st.Value)
	}
	conf.WriteString("# Host keys: made for this machine at first boot (hardvm-ssh-keygen@.service).\n")
	var units []string
	for _, typ := range sd.HostKeyTypes {
		fmt.Fprintf(&conf, "HostKey %s/ssh_host_%s_key\n", sd.HostKeyDir, typ)
		units = append(units, "hardvm-ssh-keygen@"+typ+".service")
	}
	if err := s.write("etc/ssh/sshd_config.d/10-hardvm.conf", []byte(conf.String()), 0o644); err != nil {
		return err
	}
	// The drop-in directory must be read before anything else sets a
	// keyword: Include it first.
	const include = "Include /etc/ssh/sshd_config.d/*.conf"
	main, _ := s.t.ReadFile("etc/ssh/sshd_config")
	if !includesFirst(main, include) {
		if err := s.write("etc/ssh/sshd_config", append([]byte(include+"\n"), main...), 0o644); err != nil {
			return err
		}
	}
	keygenUnit := fmt.Sprintf(`[Unit]
Description=SSH host key (%%i) of this machine, made once under %[1]s
Documentation=man:ssh-keygen(1)
RequiresMountsFor=%[1]s
ConditionPathExists=!%[1]s/ssh_host_%%i_key

[Service]
Type=oneshot
StateDirectory=%[2]s
StateDirectoryMode=0755
ExecStart=%[3]s -q -t %%i -N "" -C "" -f %[1]s/ssh_host_%%i_key
`, sd.HostKeyDir, strings.TrimPrefix(sd.HostKeyDir, "/var/lib/"), keygen)
	if err := s.write("usr/lib/systemd/system/hardvm-ssh-keygen@.service", []byte(keygenUnit), 0o644); err != nil {
		return err
	}
	dropin := fmt.Sprintf("# hardvm: host keys made at first boot; the first-boot agent writes the\n# login user's keys before sshd accepts a connection.\n[Unit]\nWants=%s\nAfter=%s %s\n",
		strings.Join(units, " "), strings.Join(units, " "), firstboot.UnitName)
	if err := s.write("etc/systemd/system/"+unit.name+".d/10-hardvm.conf", []byte(dropin), 0o644); err != nil {
		return err
	}
	sd.Settings = slices.Clone(sd.Settings)
	cfg.SSHD = &sd
	return nil
}

// includesFirst reports whether sshd_config's first keyword is the
// Include of the drop-in directory.
func includesFirst(conf []byte, include string) bool {
	for _, l := range lines(conf) {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		return strings.Join(strings.Fields(l), " ") == include
	}
	return false
}

// networkFile configures DHCP on the Ethernet interfaces with
// systemd-networkd. The hostname comes from the platform's metadata (the
// first-boot agent), not from DHCP.
const networkFile = `# hardvm: DHCP on the first Ethernet interface, as every cloud expects.
[Match]
Name=en* eth*
Type=ether

[Network]
DHCP=yes

[DHCPv4]
UseHostname=no
`

func (s *state) network(cfg *vm.Configuration) error {
	if !UnitShipped(s.t, "systemd-networkd.service") {
		return nil
	}
	const name = "usr/lib/systemd/network/80-hardvm-dhcp.network"
	if err := s.write(name, []byte(networkFile), 0o644); err != nil {
		return err
	}
	cfg.Network = "/" + name
	// With systemd-resolved, the resolver configuration is its stub.
	if UnitShipped(s.t, "systemd-resolved.service") {
		if _, err := s.t.Lstat("etc/resolv.conf"); err != nil {
			return s.symlink("../run/systemd/resolve/stub-resolv.conf", "etc/resolv.conf")
		}
	}
	return nil
}
