package image

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// Configure applies a spec's variant to an installed tree, as Build does
// after installing: it enables the variant's systemd units (the wants
// symlinks `systemctl enable` makes) and the baseline's common services a
// package ships (sshd, systemd-networkd, …), adds the spec's users (no passwords,
// SSH keys only), writes the family's hardening baseline (a sysctl drop-in
// and fstab lines with the mount options of writable file systems), leaves
// /etc/machine-id empty for first boot, writes the hostname, and checks
// that /etc/os-release came from a package. Errors wrap [ErrConfigure].
func Configure(root *Rootfs, spec vm.Spec) error {
	v, err := vm.LookupVariant(spec.Variant)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfigure, err)
	}
	if err := checkOSRelease(root); err != nil {
		return err
	}
	for _, u := range v.Units {
		if err := EnableUnit(root, u); err != nil {
			return err
		}
	}
	base := vm.BaselineFor(v.Family)
	// The baseline's common services (sshd, networkd, resolved, …) are
	// enabled when a package ships them; the variant's own units must be
	// shipped.
	for _, u := range base.Services {
		if slices.Contains(v.Units, u) || !unitShipped(root, u) {
			continue
		}
		if err := EnableUnit(root, u); err != nil {
			return err
		}
	}
	if err := addUsers(root, spec.Users); err != nil {
		return err
	}
	if err := applyBaseline(root, base); err != nil {
		return err
	}
	if err := writeConfig(root, "etc/machine-id", nil, 0o444); err != nil {
		return err
	}
	if spec.Hostname != "" {
		if err := writeConfig(root, "etc/hostname", []byte(spec.Hostname+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeConfig(root *Rootfs, name string, data []byte, perm fs.FileMode) error {
	return writeConfigAs(root, name, data, perm, FileAttr{})
}

func writeConfigAs(root *Rootfs, name string, data []byte, perm fs.FileMode, attr FileAttr) error {
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		if err := root.MkdirAll(name[:i], 0o755, FileAttr{}); err != nil {
			return fmt.Errorf("%w: %w", ErrConfigure, err)
		}
	}
	if err := root.WriteFile(name, bytes.NewReader(data), perm, attr); err != nil {
		return fmt.Errorf("%w: %w", ErrConfigure, err)
	}
	return nil
}

// checkOSRelease requires /etc/os-release (or /usr/lib/os-release) to be a
// file some package installed.
func checkOSRelease(root *Rootfs) error {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		fi, err := root.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if a, ok := fi.Sys().(*FileAttr); ok && a.Package != "" {
			return nil
		}
		return fmt.Errorf("%w: %s was not installed by a package", ErrConfigure, p)
	}
	return fmt.Errorf("%w: no package installed /etc/os-release", ErrConfigure)
}

// unitDirs are where packages install systemd units, in systemd's order.
var unitDirs = []string{"etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"}

func unitShipped(root *Rootfs, unit string) bool {
	for _, d := range unitDirs {
		if _, err := root.Stat(d + "/" + unit); err == nil {
			return true
		}
	}
	return false
}

// EnableUnit makes the symlinks `systemctl enable unit` makes, from the
// [Install] section of the unit file: WantedBy= and RequiredBy= targets get
// a .wants/.requires symlink in /etc/systemd/system, Alias= a symlink to the
// unit, Also= units are enabled too. A unit no package ships, or one
// without an [Install] section, is an error.
func EnableUnit(root *Rootfs, unit string) error {
	return enableUnit(root, unit, map[string]bool{})
}

func enableUnit(root *Rootfs, unit string, seen map[string]bool) error {
	if seen[unit] {
		return nil
	}
	seen[unit] = true
	if unit == "" || strings.ContainsAny(unit, "/\x00") {
		return fmt.Errorf("%w: unit name %q", ErrConfigure, unit)
	}
	var dir string
	var data []byte
	for _, d := range unitDirs {
		b, err := root.ReadFile(d + "/" + unit)
		if err == nil {
			dir, data = d, b
			break
		}
	}
	if dir == "" {
		return fmt.Errorf("%w: unit %s: no package installed it (looked in %v)", ErrConfigure, unit, unitDirs)
	}
	inst := parseInstall(data)
	if len(inst["WantedBy"])+len(inst["RequiredBy"])+len(inst["Alias"])+len(inst["Also"]) == 0 {
		return fmt.Errorf("%w: unit %s has no [Install] section: nothing to enable", ErrConfigure, unit)
	}
	target := "/" + dir + "/" + unit
	link := func(name string) error {
		if i := strings.LastIndexByte(name, '/'); i > 0 {
			if err := root.MkdirAll(name[:i], 0o755, FileAttr{}); err != nil {
				return fmt.Errorf("%w: %w", ErrConfigure, err)
			}
		}
		if err := root.Symlink(target, name, FileAttr{}); err != nil {
			return fmt.Errorf("%w: %w", ErrConfigure, err)
		}
		return nil
	}
	for _, kind := range []struct{ key, suffix string }{{"WantedBy", ".wants"}, {"RequiredBy", ".requires"}} {
		for _, t := range inst[kind.key] {
			if err := link("etc/systemd/system/" + t + kind.suffix + "/" + unit); err != nil {
				return err
			}
		}
	}
	for _, a := range inst["Alias"] {
		if err := link("etc/systemd/system/" + a); err != nil {
			return err
		}
	}
	for _, also := range inst["Also"] {
		if err := enableUnit(root, also, seen); err != nil {
			return err
		}
	}
	return nil
}

// parseInstall returns the [Install] section's list settings.
func parseInstall(data []byte) map[string][]string {
	out := map[string][]string{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if strings.HasPrefix(l, "[") {
			in = l == "[Install]"
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		fields := strings.Fields(v)
		if len(fields) == 0 {
			delete(out, k) // an empty assignment resets the list
			continue
		}
		for _, f := range fields {
			if !slices.Contains(out[k], f) && !strings.ContainsAny(f, "/\x00") {
				out[k] = append(out[k], f)
			}
		}
	}
	return out
}

var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// addUsers adds accounts without passwords, with SSH keys.
func addUsers(root *Rootfs, users []vm.User) error {
	if len(users) == 0 {
		return nil
	}
	passwd, _ := root.ReadFile("etc/passwd")
	group, _ := root.ReadFile("etc/group")
	shadow, _ := root.ReadFile("etc/shadow")
	shell := "/bin/sh"
	if _, err := root.Stat("bin/bash"); err == nil {
		shell = "/bin/bash"
	}
	used := map[int]bool{}
	names := map[string]bool{}
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 2 {
			names[f[0]] = true
			if n, err := strconv.Atoi(f[2]); err == nil {
				used[n] = true
			}
		}
	}
	next := 1000
	var sudoers []string
	for _, u := range users {
		if !userName.MatchString(u.Name) {
			return fmt.Errorf("%w: user name %q (want [a-z_][a-z0-9_-]*, at most 32)", ErrConfigure, u.Name)
		}
		if names[u.Name] {
			return fmt.Errorf("%w: user %s exists already", ErrConfigure, u.Name)
		}
		uid := u.UID
		if uid == 0 {
			for used[next] {
				next++
			}
			uid = next
		}
		if uid < 1000 || used[uid] {
			return fmt.Errorf("%w: user %s: uid %d is taken or below 1000", ErrConfigure, u.Name, uid)
		}
		used[uid] = true
		names[u.Name] = true
		home := "home/" + u.Name
		passwd = appendLine(passwd, fmt.Sprintf("%s:x:%d:%d::/%s:%s", u.Name, uid, uid, home, shell))
		group = appendLine(group, fmt.Sprintf("%s:x:%d:", u.Name, uid))
		// "*": no password can match; login by SSH key only.
		shadow = appendLine(shadow, u.Name+":*::0:::::")
		for _, g := range u.Groups {
			var ok bool
			if group, ok = addMember(group, g, u.Name); !ok {
				return fmt.Errorf("%w: user %s: group %q does not exist", ErrConfigure, u.Name, g)
			}
		}
		attr := FileAttr{UID: uint32(uid), GID: uint32(uid)}
		if err := root.MkdirAll("home", 0o755, FileAttr{}); err != nil {
			return fmt.Errorf("%w: %w", ErrConfigure, err)
		}
		if err := root.Mkdir(home, 0o700, attr); err != nil {
			return fmt.Errorf("%w: %w", ErrConfigure, err)
		}
		if len(u.SSHKeys) > 0 {
			if err := root.Mkdir(home+"/.ssh", 0o700, attr); err != nil {
				return fmt.Errorf("%w: %w", ErrConfigure, err)
			}
			var keys []byte
			for _, k := range u.SSHKeys {
				k = strings.TrimSpace(k)
				if k == "" || strings.ContainsAny(k, "\n\r") {
					return fmt.Errorf("%w: user %s: SSH key must be one line", ErrConfigure, u.Name)
				}
				keys = appendLine(keys, k)
			}
			if err := writeConfigAs(root, home+"/.ssh/authorized_keys", keys, 0o600, attr); err != nil {
				return err
			}
		}
		if u.Sudo {
			sudoers = append(sudoers, u.Name+" ALL=(ALL) NOPASSWD: ALL")
		}
	}
	if err := writeConfig(root, "etc/passwd", passwd, 0o644); err != nil {
		return err
	}
	if err := writeConfig(root, "etc/group", group, 0o644); err != nil {
		return err
	}
	if err := writeConfig(root, "etc/shadow", shadow, 0o600); err != nil {
		return err
	}
	if len(sudoers) > 0 {
		if err := writeConfig(root, "etc/sudoers.d/hardvm-users", []byte(strings.Join(sudoers, "\n")+"\n"), 0o440); err != nil {
			return err
		}
	}
	return nil
}

func appendLine(b []byte, line string) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return append(append(b, line...), '\n')
}

// addMember adds user to group g of an /etc/group file.
func addMember(group []byte, g, user string) ([]byte, bool) {
	lines := strings.Split(strings.TrimSuffix(string(group), "\n"), "\n")
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) != 4 || f[0] != g {
			continue
		}
		members := []string{}
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		if !slices.Contains(members, user) {
			members = append(members, user)
		}
		f[3] = strings.Join(members, ",")
		lines[i] = strings.Join(f, ":")
		return []byte(strings.Join(lines, "\n") + "\n"), true
	}
	return group, false
}

// applyBaseline writes the sysctl drop-in and the fstab lines of the
// hardening baseline. Kernel arguments go on the boot command line (the
// boot step reads vm.Spec.KernelArgs).
func applyBaseline(root *Rootfs, b vm.Baseline) error {
	var s strings.Builder
	fmt.Fprintf(&s, "# hardvm hardening baseline for the %s family.\n", b.Family)
	for _, c := range b.Sysctls {
		fmt.Fprintf(&s, "# %s %s: %s\n%s = %s\n", c.Control.Benchmark, c.Control.ID, c.Control.Title, c.Key, c.Value)
	}
	if err := writeConfig(root, "usr/lib/sysctl.d/50-hardvm-baseline.conf", []byte(s.String()), 0o644); err != nil {
		return err
	}
	fstab, _ := root.ReadFile("etc/fstab")
	var f strings.Builder
	f.Write(fstab)
	if len(fstab) > 0 && fstab[len(fstab)-1] != '\n' {
		f.WriteByte('\n')
	}
	f.WriteString("# hardvm hardening baseline: writable file systems.\n")
	for _, m := range b.Mounts {
		src, pass, opts := m.FSType, 0, slices.Clone(m.Options)
		if m.FSType != "tmpfs" {
			// A data partition, when the layout has one; nofail keeps a
			// layout without it booting.
			src, pass = "PARTLABEL="+strings.Trim(strings.ReplaceAll(m.Path, "/", "-"), "-"), 2
			opts = append(opts, "nofail")
		}
		fmt.Fprintf(&f, "# %s %s: %s\n%s %s %s %s 0 %d\n", m.Control.Benchmark, m.Control.ID, m.Control.Title, src, m.Path, m.FSType, strings.Join(opts, ","), pass)
	}
	return writeConfig(root, "etc/fstab", []byte(f.String()), 0o644)
}
