package osconfig

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
)

// unitDirs are where packages install systemd units, in systemd's order.
var unitDirs = []string{"etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"}

// unitFile is a unit found in the tree: the directory and the file name
// (which differs from the name asked for when that is an alias).
type unitFile struct {
	dir, name string
	data      []byte
}

func (u unitFile) path() string { return "/" + u.dir + "/" + u.name }

// findUnit returns the unit file of name: a file of that name, or the unit
// whose [Install] section declares it as an Alias (Debian ships ssh.service
// with Alias=sshd.service). ok is false when no package ships it.
func findUnit(t Tree, name string) (unitFile, bool) {
	for _, d := range unitDirs {
		if fi, err := t.Lstat(d + "/" + name); err == nil && fi.Mode().IsRegular() {
			b, err := t.ReadFile(d + "/" + name)
			if err == nil {
				return unitFile{d, name, b}, true
			}
		}
	}
	for _, d := range unitDirs {
		ents, err := t.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || !strings.Contains(e.Name(), ".") {
				continue
			}
			b, err := t.ReadFile(d + "/" + e.Name())
			if err != nil {
				continue
			}
			if slices.Contains(parseInstall(b)["Alias"], name) {
				return unitFile{d, e.Name(), b}, true
			}
		}
	}
	return unitFile{}, false
}

// UnitShipped reports whether a package ships unit name (or a unit that
// declares it as an alias).
func UnitShipped(t Tree, name string) bool {
	_, ok := findUnit(t, name)
	return ok
}

// EnableUnit makes the symlinks `systemctl enable unit` makes, from the
// [Install] section of the unit file: WantedBy= and RequiredBy= targets get
// a .wants/.requires symlink in /etc/systemd/system, Alias= a symlink to
// the unit, Also= units are enabled too. A name that is only an alias
// (sshd.service for Debian's ssh.service) enables the unit that declares
// it. A unit no package ships, or one without an [Install] section, is an
// error wrapping [ErrConfigure]. It returns the units enabled.
func EnableUnit(t Tree, unit string) ([]string, error) {
	s := &state{t: t, files: map[string]bool{}}
	var out []string
	err := s.enable(unit, map[string]bool{}, &out)
	return out, err
}

func (s *state) enable(unit string, seen map[string]bool, out *[]string) error {
	if seen[unit] {
		return nil
	}
	seen[unit] = true
	if unit == "" || strings.ContainsAny(unit, "/\x00") {
		return errf("unit name %q", unit)
	}
	u, ok := findUnit(s.t, unit)
	if !ok {
		return errf("unit %s: no package installed it (looked in %v)", unit, unitDirs)
	}
	seen[u.name] = true
	inst := parseInstall(u.data)
	if len(inst["WantedBy"])+len(inst["RequiredBy"])+len(inst["Alias"])+len(inst["Also"]) == 0 {
		return errf("unit %s has no [Install] section: nothing to enable", u.name)
	}
	for _, kind := range []struct{ key, suffix string }{{"WantedBy", ".wants"}, {"RequiredBy", ".requires"}} {
		for _, t := range inst[kind.key] {
			if err := s.symlink(u.path(), "etc/systemd/system/"+t+kind.suffix+"/"+u.name); err != nil {
				return err
			}
		}
	}
	for _, a := range inst["Alias"] {
		if err := s.symlink(u.path(), "etc/systemd/system/"+a); err != nil {
			return err
		}
	}
	*out = append(*out, u.name)
	for _, also := range inst["Also"] {
		if err := s.enable(also, seen, out); err != nil {
			return err
		}
	}
	return nil
}

// mask makes unit a symlink to /dev/null in /etc/systemd/system.
func (s *state) mask(unit string) error {
	return s.symlink("/dev/null", "etc/systemd/system/"+unit)
}

// parseInstall returns the [Install] section's list settings.
func parseInstall(data []byte) map[string][]string {
	return parseSection(data, "[Install]")
}

// parseSection returns the list settings of one section of a unit file.
func parseSection(data []byte, section string) map[string][]string {
	out := map[string][]string{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if strings.HasPrefix(l, "[") {
			in = l == section
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
