package osconfig

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// The writable state. /var is a partition of its own, empty on a fresh
// disk and mounted over the root's /var: what packages ship there would be
// hidden. It is kept in /usr/share/factory/var (hardlinks, no copy) and
// systemd-tmpfiles makes it at boot, with the directories install scripts
// would have made and the login users' homes (/home is a symlink to
// var/home).

const (
	// dirsConf sorts first: for a path several files name, systemd-tmpfiles
	// applies the first file's line, so the variant's directories win.
	dirsConf = "usr/lib/tmpfiles.d/00-hardvm.conf"
	// factoryConf sorts last: packages' own lines for a path win.
	factoryConf = "usr/lib/tmpfiles.d/zz-hardvm-factory.conf"
	factoryDir  = "usr/share/factory/var"
)

func (s *state) state(v vm.Variant, base vm.Baseline, db *accountDB, users []vm.User, cfg *vm.Configuration) error {
	named, etcLinks, err := s.tmpfilesPaths()
	if err != nil {
		return err
	}
	// What tmpfiles would link in /etc at boot, where /etc is read-only:
	// made now (Debian's /etc/mtab).
	for _, l := range etcLinks {
		if _, err := s.t.Lstat(strings.TrimPrefix(l[0], "/")); err == nil {
			continue
		}
		if err := s.symlink(l[1], strings.TrimPrefix(l[0], "/")); err != nil {
			return err
		}
	}

	// The variant's directories and the homes.
	var dirs []string
	for _, d := range v.Dirs {
		o, err := db.ids(d)
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Path, "/var/") {
			dirs = append(dirs, fmt.Sprintf("d %s %04o %d %d -", d.Path, d.Mode, o.UID, o.GID))
			continue
		}
		if err := s.mkdirAll(path.Dir(strings.TrimPrefix(d.Path, "/"))); err != nil {
			return err
		}
		if err := s.t.Mkdir(strings.TrimPrefix(d.Path, "/"), fs.FileMode(d.Mode)&fs.ModePerm, o); err != nil {
			return wrap(err)
		}
	}
	if m, ok := base.Mount("/home"); ok && m.Under == "/var" {
		if err := s.homeOnVar(); err != nil {
			return err
		}
		if err := s.homeTmpfiles(); err != nil {
			return err
		}
		dirs = append(dirs, "d /var/home 0755 0 0 -")
		for _, u := range users {
			e, ok := db.user(u.Name)
			if !ok {
				return errf("user %s not in /etc/passwd", u.Name)
			}
			dirs = append(dirs, fmt.Sprintf("d /var/home/%s 0700 %d %d -", u.Name, e.uid, e.gid))
		}
	}
	if len(dirs) > 0 {
		body := "# hardvm: directories install scripts would make, and the login users' homes.\n" + strings.Join(dirs, "\n") + "\n"
		if err := s.write(dirsConf, []byte(body), 0o644); err != nil {
			return err
		}
		cfg.Tmpfiles = append(cfg.Tmpfiles, dirs...)
	}

	// What packages ship under /var.
	var factory []string
	err = s.walk("var", func(name string, fi fs.FileInfo) error {
		p := "/" + name
		if named[p] {
			return nil
		}
		switch {
		case fi.IsDir():
			o, err := s.t.Owner(name)
			if err != nil {
				return wrap(err)
			}
			factory = append(factory, fmt.Sprintf("d %s %04o %d %d -", p, unixPerm(fi.Mode()), o.UID, o.GID))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := s.t.ReadLink(name)
			if err != nil {
				return wrap(err)
			}
			factory = append(factory, fmt.Sprintf("L %s - - - - %s", p, target))
		case fi.Mode().IsRegular():
			dst := factoryDir + strings.TrimPrefix(name, "var")
			if err := s.mkdirAll(path.Dir(dst)); err != nil {
				return err
			}
			if err := s.t.Link(name, dst); err != nil {
				return wrap(err)
			}
			s.files["/"+dst] = true
			factory = append(factory, fmt.Sprintf("C %s - - - - /%s", p, dst))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(factory) > 0 {
		body := "# hardvm: what packages ship under /var (its own partition, empty on a new disk).\n" + strings.Join(factory, "\n") + "\n"
		if err := s.write(factoryConf, []byte(body), 0o644); err != nil {
			return err
		}
		cfg.Tmpfiles = append(cfg.Tmpfiles, factory...)
	}
	return nil
}

// homeOnVar makes /home a symlink to var/home (an empty /home directory
// from a baselayout is replaced).
func (s *state) homeOnVar() error {
	fi, err := s.t.Lstat("home")
	if err == nil && !fi.IsDir() {
		if l, _ := s.t.ReadLink("home"); l == "var/home" {
			return nil
		}
		return errf("/home is a %v: it must be a directory to become the symlink to var/home", fi.Mode().Type())
	}
	if err == nil {
		ents, err := s.t.ReadDir("home")
		if err != nil {
			return wrap(err)
		}
		if len(ents) > 0 {
			return errf("/home holds %s: it lives on /var, where a package's files would be hidden", ents[0].Name())
		}
		if err := s.t.Remove("home"); err != nil {
			return wrap(err)
		}
	}
	return s.symlink("var/home", "home")
}

// homeTmpfiles overrides, in /etc/tmpfiles.d, a package's tmpfiles.d file
// that makes /home a directory (systemd's home.conf): /home is the symlink
// to var/home, and the line would only warn at every boot.
func (s *state) homeTmpfiles() error {
	for _, d := range []string{"usr/lib/tmpfiles.d", "lib/tmpfiles.d"} {
		ents, err := s.t.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".conf") || s.exists("etc/tmpfiles.d/"+e.Name()) {
				continue
			}
			b, err := s.t.ReadFile(d + "/" + e.Name())
			if err != nil {
				return wrap(err)
			}
			var out []string
			found := false
			for _, l := range lines(b) {
				if f := strings.Fields(l); len(f) >= 2 && !strings.HasPrefix(f[0], "#") && f[1] == "/home" {
					l, found = "# hardvm: /home is a symlink to var/home (made by 00-hardvm.conf)\n# "+l, true
				}
				out = append(out, l)
			}
			if found {
				if err := s.write("etc/tmpfiles.d/"+e.Name(), []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// tmpfilesPaths returns the paths the tree's tmpfiles.d files name, and
// the symlinks they make under /etc ([path, target]).
func (s *state) tmpfilesPaths() (map[string]bool, [][2]string, error) {
	named := map[string]bool{}
	var etc [][2]string
	for _, d := range []string{"usr/lib/tmpfiles.d", "lib/tmpfiles.d", "etc/tmpfiles.d"} {
		ents, err := s.t.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".conf") || strings.HasPrefix(e.Name(), "00-hardvm") || strings.HasPrefix(e.Name(), "zz-hardvm") {
				continue
			}
			b, err := s.t.ReadFile(d + "/" + e.Name())
			if err != nil {
				return nil, nil, wrap(err)
			}
			for _, l := range lines(b) {
				f := strings.Fields(l)
				if len(f) < 2 || strings.HasPrefix(f[0], "#") {
					continue
				}
				named[f[1]] = true
				if strings.HasPrefix(f[0], "L") && strings.HasPrefix(f[1], "/etc/") && len(f) >= 7 {
					etc = append(etc, [2]string{f[1], f[6]})
				}
			}
		}
	}
	return named, etc, nil
}

// walk calls fn for every entry under dir (not dir itself), parents
// first, in name order, without following symlinks.
func (s *state) walk(dir string, fn func(name string, fi fs.FileInfo) error) error {
	fi, err := s.t.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return nil
	}
	ents, err := s.t.ReadDir(dir)
	if err != nil {
		return wrap(err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		name := dir + "/" + e.Name()
		fi, err := s.t.Lstat(name)
		if err != nil {
			return wrap(err)
		}
		if err := fn(name, fi); err != nil {
			return err
		}
		if fi.IsDir() {
			if err := s.walk(name, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// unixPerm returns the permission bits of m as a Unix mode (setuid,
// setgid, sticky included).
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
