package vm

import "slices"

// Control names the benchmark control a hardening setting serves.
// Benchmarks: "CIS" is the CIS Distribution Independent Linux Benchmark
// v2.0.0, "STIG" the DISA General Purpose OS SRG, "KSPP" the Kernel Self
// Protection Project's recommended settings.
type Control struct {
	Benchmark string `json:"benchmark"`
	ID        string `json:"id"`
	Title     string `json:"title"`
}

// KernelArg is a kernel command-line argument of the baseline.
type KernelArg struct {
	Arg     string  `json:"arg"`
	Control Control `json:"control"`
}

// Sysctl is a sysctl setting of the baseline, written as a drop-in under
// /usr/lib/sysctl.d.
type Sysctl struct {
	Key     string  `json:"key"`
	Value   string  `json:"value"`
	Control Control `json:"control"`
}

// Mount is how a writable file system is mounted. A path with an Under
// lives on that writable file system instead of a mount of its own (/home
// on /var: the image has a symbolic link /home -> var/home), and takes its
// mount options.
type Mount struct {
	Path    string   `json:"path"`
	FSType  string   `json:"fstype,omitempty"` // tmpfs, ext4; "" with Under
	Under   string   `json:"under,omitempty"`  // the mount the path lives on
	Options []string `json:"options,omitempty"`
	Control Control  `json:"control"`
}

// SSHD is the OpenSSH server configuration of the baseline.
type SSHD struct {
	Settings []SSHDSetting `json:"settings"`
	// HostKeyDir is where the machine's host keys are made at first boot,
	// on writable storage: never in the image.
	HostKeyDir string `json:"host_key_dir"`
	// HostKeyTypes are the key types made (ssh-keygen -t).
	HostKeyTypes []string `json:"host_key_types"`
}

// SSHDSetting is one sshd_config keyword with its value.
type SSHDSetting struct {
	Keyword string  `json:"keyword"`
	Value   string  `json:"value"`
	Control Control `json:"control"`
}

// Baseline is the hardening applied to every image of a family: kernel
// arguments, sysctls, mount options of writable file systems, the SSH
// server's settings, and the services and users allowed. Later steps apply
// it (rootfs configuration, boot command line) and report it.
type Baseline struct {
	Family   Family      `json:"family"`
	Cmdline  []KernelArg `json:"cmdline"`
	Sysctls  []Sysctl    `json:"sysctls"`
	Mounts   []Mount     `json:"mounts"`
	SSHD     SSHD        `json:"sshd"`
	Services []string    `json:"services"` // systemd units allowed to be enabled
	Users    []string    `json:"users"`    // system accounts allowed to exist
}

func cis(id, title string) Control  { return Control{"CIS", id, title} }
func kspp(id, title string) Control { return Control{"KSPP", id, title} }
func stig(id, title string) Control { return Control{"STIG", id, title} }

// commonCmdline, commonSysctls and commonMounts apply to every family.
var commonCmdline = []KernelArg{
	{"slab_nomerge", kspp("slab_nomerge", "do not merge slab caches")},
	{"init_on_alloc=1", kspp("init_on_alloc", "zero memory on allocation")},
	{"init_on_free=1", kspp("init_on_free", "zero memory on free")},
	{"page_alloc.shuffle=1", kspp("page_alloc.shuffle", "randomise page allocator freelists")},
	{"randomize_kstack_offset=on", kspp("randomize_kstack_offset", "randomise kernel stack offset per syscall")},
	{"vsyscall=none", kspp("vsyscall", "no legacy vsyscall table")},
	{"debugfs=off", kspp("debugfs", "no debugfs")},
	{"lockdown=integrity", kspp("lockdown", "kernel lockdown, integrity mode")},
}

var commonSysctls = []Sysctl{
	{"kernel.randomize_va_space", "2", cis("1.5.3", "Ensure address space layout randomization (ASLR) is enabled")},
	{"fs.suid_dumpable", "0", cis("1.5.1", "Ensure core dumps are restricted")},
	{"kernel.dmesg_restrict", "1", kspp("kernel.dmesg_restrict", "restrict dmesg to CAP_SYSLOG")},
	{"kernel.kptr_restrict", "2", kspp("kernel.kptr_restrict", "hide kernel pointers")},
	{"kernel.yama.ptrace_scope", "1", kspp("kernel.yama.ptrace_scope", "restrict ptrace to descendants")},
	{"kernel.unprivileged_bpf_disabled", "1", kspp("kernel.unprivileged_bpf_disabled", "no unprivileged BPF")},
	{"net.core.bpf_jit_harden", "2", kspp("net.core.bpf_jit_harden", "harden the BPF JIT")},
	{"fs.protected_hardlinks", "1", kspp("fs.protected_hardlinks", "protect hardlinks")},
	{"fs.protected_symlinks", "1", kspp("fs.protected_symlinks", "protect symlinks")},
	{"net.ipv4.conf.all.send_redirects", "0", cis("3.1.2", "Ensure packet redirect sending is disabled")},
	{"net.ipv4.conf.default.send_redirects", "0", cis("3.1.2", "Ensure packet redirect sending is disabled")},
	{"net.ipv4.conf.all.accept_source_route", "0", cis("3.2.1", "Ensure source routed packets are not accepted")},
	{"net.ipv6.conf.all.accept_source_route", "0", cis("3.2.1", "Ensure source routed packets are not accepted")},
	{"net.ipv4.conf.all.accept_redirects", "0", cis("3.2.2", "Ensure ICMP redirects are not accepted")},
	{"net.ipv6.conf.all.accept_redirects", "0", cis("3.2.2", "Ensure ICMP redirects are not accepted")},
	{"net.ipv4.conf.all.secure_redirects", "0", cis("3.2.3", "Ensure secure ICMP redirects are not accepted")},
	{"net.ipv4.conf.all.log_martians", "1", cis("3.2.4", "Ensure suspicious packets are logged")},
	{"net.ipv4.icmp_echo_ignore_broadcasts", "1", cis("3.2.5", "Ensure broadcast ICMP requests are ignored")},
	{"net.ipv4.icmp_ignore_bogus_error_responses", "1", cis("3.2.6", "Ensure bogus ICMP responses are ignored")},
	{"net.ipv4.conf.all.rp_filter", "1", cis("3.2.7", "Ensure Reverse Path Filtering is enabled")},
	{"net.ipv4.tcp_syncookies", "1", cis("3.2.8", "Ensure TCP SYN Cookies is enabled")},
	{"net.ipv6.conf.all.accept_ra", "0", cis("3.2.9", "Ensure IPv6 router advertisements are not accepted")},
}

// hostSysctls differ for container hosts, which route for their containers.
var hostSysctls = []Sysctl{
	{"net.ipv4.ip_forward", "1", Control{"CIS", "3.1.1", "IP forwarding: exception, container hosts route for their pods"}},
}

var nonHostSysctls = []Sysctl{
	{"net.ipv4.ip_forward", "0", cis("3.1.1", "Ensure IP forwarding is disabled")},
	{"net.ipv6.conf.all.forwarding", "0", cis("3.1.1", "Ensure IP forwarding is disabled")},
}

var commonMounts = []Mount{
	{Path: "/tmp", FSType: "tmpfs", Options: []string{"nodev", "nosuid", "noexec", "mode=1777"}, Control: cis("1.1.3-1.1.5", "Ensure nodev, nosuid, noexec on /tmp")},
	{Path: "/dev/shm", FSType: "tmpfs", Options: []string{"nodev", "nosuid", "noexec"}, Control: cis("1.1.7-1.1.9", "Ensure nodev, nosuid, noexec on /dev/shm")},
	{Path: "/home", Under: "/var", Control: cis("1.1.14", "Ensure nodev option set on /home partition (/home lives on /var, mounted nodev)")},
}

// commonSSHD is the OpenSSH server hardening of every family: keys only,
// no root, host keys made per machine under /var.
var commonSSHD = SSHD{
	Settings: []SSHDSetting{
		{"PermitRootLogin", "no", cis("5.2.10", "Ensure SSH root login is disabled")},
		{"PasswordAuthentication", "no", stig("SRG-OS-000480-GPOS-00229", "no password authentication: keys only")},
		{"KbdInteractiveAuthentication", "no", stig("SRG-OS-000480-GPOS-00229", "no password authentication: keys only")},
		{"PermitEmptyPasswords", "no", cis("5.2.11", "Ensure SSH PermitEmptyPasswords is disabled")},
		{"HostbasedAuthentication", "no", cis("5.2.9", "Ensure SSH HostbasedAuthentication is disabled")},
		{"IgnoreRhosts", "yes", cis("5.2.8", "Ensure SSH IgnoreRhosts is enabled")},
		{"PermitUserEnvironment", "no", cis("5.2.12", "Ensure SSH PermitUserEnvironment is disabled")},
		{"X11Forwarding", "no", cis("5.2.6", "Ensure SSH X11 forwarding is disabled")},
		{"MaxAuthTries", "4", cis("5.2.7", "Ensure SSH MaxAuthTries is set to 4 or less")},
		{"LoginGraceTime", "60", cis("5.2.17", "Ensure SSH LoginGraceTime is set to one minute or less")},
		// Accounts have no password ("*" in shadow): without PAM, sshd
		// checks the account itself; the image carries no PAM stack
		// configuration (package scripts that would write it never run).
		{"UsePAM", "no", stig("SRG-OS-000480-GPOS-00229", "keys only: no PAM password stack")},
		// Keys come from the platform's metadata (written by the first-boot
		// agent, root-owned, under /var) and from the spec (on the
		// verified root); a key a user adds to ~/.ssh is never accepted.
		{"AuthorizedKeysFile", MetadataKeysFile + " " + SpecKeysDir + "/%u", Control{"hardvm", "ssh-keys", "keys only from first-boot metadata and the spec"}},
	},
	HostKeyDir:   "/var/lib/ssh",
	HostKeyTypes: []string{"ed25519", "ecdsa"},
}

// SpecKeysDir holds the SSH keys a spec gives its users, one file per user,
// on the verified root.
const SpecKeysDir = "/etc/ssh/authorized_keys.d"

// MetadataKeysFile is where the first-boot agent (package image/firstboot)
// writes the login user's keys from the platform's metadata, as sshd's
// AuthorizedKeysFile pattern.
const MetadataKeysFile = "/var/lib/hardvm/ssh/%u/authorized_keys"

var commonServices = []string{"sshd.service", "systemd-networkd.service", "systemd-resolved.service", "systemd-timesyncd.service", "systemd-journald.service"}
var commonUsers = []string{"root", "nobody", "sshd", "systemd-network", "systemd-resolve", "systemd-timesync", "messagebus"}

// Mount returns the baseline's mount of path, if it has one.
func (b Baseline) Mount(path string) (Mount, bool) {
	for _, m := range b.Mounts {
		if m.Path == path {
			return m, true
		}
	}
	return Mount{}, false
}

// BaselineFor returns the hardening baseline of family f.
func BaselineFor(f Family) Baseline {
	b := Baseline{
		Family:   f,
		Cmdline:  slices.Clone(commonCmdline),
		Sysctls:  slices.Clone(commonSysctls),
		Services: slices.Clone(commonServices),
		Users:    slices.Clone(commonUsers),
		SSHD:     commonSSHD,
	}
	b.SSHD.Settings = slices.Clone(commonSSHD.Settings)
	b.SSHD.HostKeyTypes = slices.Clone(commonSSHD.HostKeyTypes)
	b.Mounts = slices.Clone(commonMounts)
	switch f {
	case ContainerHost:
		b.Sysctls = append(b.Sysctls, hostSysctls...)
		// containerd runs binaries from /var/lib/containerd: no noexec there.
		b.Mounts = append(b.Mounts, Mount{Path: "/var", FSType: "ext4", Options: []string{"nodev", "nosuid"}, Control: cis("1.1.11", "Ensure separate partition exists for /var (container storage)")})
		b.Services = append(b.Services, "containerd.service")
	default:
		b.Sysctls = append(b.Sysctls, nonHostSysctls...)
		b.Mounts = append(b.Mounts, Mount{Path: "/var", FSType: "ext4", Options: []string{"nodev", "nosuid", "noexec"}, Control: stig("SRG-OS-000480-GPOS-00227", "separate /var partition, writable data without exec")})
	}
	for _, v := range variants {
		if v.Family != f {
			continue
		}
		for _, u := range v.Units {
			if !slices.Contains(b.Services, u) {
				b.Services = append(b.Services, u)
			}
		}
		for _, u := range v.Users {
			if !slices.Contains(b.Users, u) {
				b.Users = append(b.Users, u)
			}
		}
	}
	return b
}

// CmdlineArgs returns the baseline's kernel arguments as strings.
func (b Baseline) CmdlineArgs() []string {
	out := make([]string, len(b.Cmdline))
	for i, a := range b.Cmdline {
		out[i] = a.Arg
	}
	return out
}

// KernelArgs returns the full kernel command line arguments of a spec: the
// baseline's, then the spec's extra ones. It never contains fips=1.
func (s *Spec) KernelArgs() []string {
	v, err := LookupVariant(s.Variant)
	if err != nil {
		return slices.Clone(s.Cmdline)
	}
	return append(BaselineFor(v.Family).CmdlineArgs(), s.Cmdline...)
}

// Accounts returns the system accounts an image of the variant carries:
// the common ones (root, nobody, the SSH server's and systemd's) and the
// ones its own services run as. Each is in the Accounts table.
func (v Variant) Accounts() []string {
	out := slices.Clone(commonUsers)
	for _, u := range v.Users {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}
