package debrepo

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// control is a Debian package's control file, the fields debrepo reads.
type control struct {
	Package, Version, Source, Description string
	Depends                               []string // clauses of Pre-Depends and Depends
	Provides                              []string
	deb                                   string // the .deb path
}

// readControl runs dpkg-deb -f on a .deb.
func readControl(ctx context.Context, deb string) (*control, error) {
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb).Output()
	if err != nil {
		return nil, fmt.Errorf("%w: dpkg-deb -f %s: %v", ErrRepackage, deb, err)
	}
	fields := map[string]string{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if last != "" {
				fields[last] += "\n" + strings.TrimSpace(l)
			}
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		last = k
		fields[k] = strings.TrimSpace(v)
	}
	c := &control{Package: fields["Package"], Version: fields["Version"], Source: fields["Source"], deb: deb}
	c.Description, _, _ = strings.Cut(fields["Description"], "\n")
	if c.Source != "" {
		c.Source, _, _ = strings.Cut(c.Source, " ")
	} else {
		c.Source = c.Package
	}
	for _, k := range []string{"Pre-Depends", "Depends"} {
		c.Depends = append(c.Depends, splitList(fields[k])...)
	}
	for _, p := range splitList(fields["Provides"]) {
		c.Provides = append(c.Provides, depName(p))
	}
	if c.Package == "" || c.Version == "" {
		return nil, fmt.Errorf("%w: %s: no Package or Version in its control file", ErrRepackage, deb)
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// depName returns the package name of one alternative of a Debian
// dependency ("libc6:any (>= 2.34) [amd64]" -> "libc6").
func depName(alt string) string {
	alt = strings.TrimSpace(alt)
	if i := strings.IndexAny(alt, " (["); i >= 0 {
		alt = alt[:i]
	}
	name, _, _ := strings.Cut(alt, ":")
	return name
}

var upstreamRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)*)([a-z]+)?([0-9]+)?`)

// apkVersion turns a Debian version into an APK one: the epoch goes, the
// upstream version keeps its dotted numbers (a letter suffix with digits,
// 9.2p1, becomes _p1), and the Debian revision's digits make -rN.
func apkVersion(deb string) string {
	if i := strings.IndexByte(deb, ':'); i >= 0 {
		deb = deb[i+1:]
	}
	up, rev := deb, ""
	if i := strings.LastIndexByte(deb, '-'); i >= 0 {
		up, rev = deb[:i], deb[i+1:]
	}
	m := upstreamRe.FindStringSubmatch(up)
	v := "0"
	if m != nil {
		v = m[1]
		if m[2] != "" && m[3] != "" {
			v += "_p" + m[3]
		}
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, rev)
	digits = strings.TrimLeft(digits, "0")
	if len(digits) > 9 {
		digits = digits[:9]
	}
	if digits == "" {
		digits = "0"
	}
	out := v + "-r" + digits
	if !apkversion.Valid(out) {
		return "0-r0"
	}
	return out
}

// merged maps a path of a Debian package to merged /usr, and reports
// whether it is kept: /bin, /sbin, /lib, /lib64 go under /usr (the
// top-level directories themselves are the baselayout's symlinks);
// documentation other than copyright files and manual pages are dropped.
func merged(name string) (string, bool) {
	name = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(name, "."), "/"), "/")
	if name == "" {
		return "", false
	}
	top, rest, _ := strings.Cut(name, "/")
	switch top {
	case "bin", "sbin", "lib", "lib64":
		if rest == "" {
			return "", false
		}
		name = "usr/" + name
	}
	for _, drop := range []string{"usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/bug", "usr/share/doc-base"} {
		if name == drop || strings.HasPrefix(name, drop+"/") {
			return "", false
		}
	}
	if strings.HasPrefix(name, "usr/share/doc/") {
		parts := strings.Split(name, "/")
		if len(parts) > 4 && !(len(parts) == 5 && parts[4] == "copyright") {
			return "", false
		}
	}
	return name, true
}

// stager keeps file content on disk for apktest.File.Path.
type stager struct {
	dir string
	mu  sync.Mutex
	n   int
}

func (s *stager) put(r io.Reader) (string, error) {
	s.mu.Lock()
	s.n++
	p := filepath.Join(s.dir, strconv.Itoa(s.n))
	s.mu.Unlock()
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return "", err
	}
	return p, f.Close()
}

// patch changes a file of a Debian package to follow Wolfi's conventions
// (see the package documentation). It returns nil to keep the content, and
// an error when the text it changes is not there (a new Debian version):
// the repository is not made with Debian's file in its place.
type patch func(name string, b []byte) ([]byte, error)

var patches = map[string]patch{
	"nginx-common": func(name string, b []byte) ([]byte, error) {
		switch name {
		case "etc/nginx/nginx.conf":
			return replaceOnce(name, b, "user www-data;", "user nginx;")
		case "etc/nginx/sites-available/default":
			// Debian's script copies the page to /var/www/html; serve it
			// from where the package ships it, on the verified root.
			return replaceOnce(name, b, "root /var/www/html;", "root /usr/share/nginx/html;")
		}
		return nil, nil
	},
	"squid": func(name string, b []byte) ([]byte, error) {
		switch name {
		case "etc/squid/squid.conf":
			b, err := replaceOnce(name, b, "#http_access allow localnet\n", "http_access allow localnet\n")
			if err != nil {
				return nil, err
			}
			return append([]byte("# Wolfi's convention: squid runs as the squid account.\ncache_effective_user squid\ncache_effective_group squid\n"), b...), nil
		case "usr/lib/systemd/system/squid.service":
			return replaceOnce(name, b, "Group=proxy\n", "Group=squid\n")
		case "usr/lib/tmpfiles.d/squid.conf":
			return replaceOnce(name, b, "proxy proxy", "squid squid")
		}
		return nil, nil
	},
}

func replaceOnce(name string, b []byte, old, new string) ([]byte, error) {
	if !bytes.Contains(b, []byte(old)) {
		return nil, fmt.Errorf("%w: %s: %q to change is not there", ErrRepackage, name, old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1), nil
}

// extra are files a stand-in adds to a Debian package.
var extra = map[string][]apktest.File{
	// systemd-sysv's job: the init the boot's initramfs switches to.
	"systemd": {{Name: "usr/sbin/init", Mode: fs.ModeSymlink | 0o777, Link: "../lib/systemd/systemd"}},
	// Debian's postinst enables the default site.
	"nginx-common": {{Name: "etc/nginx/sites-enabled/default", Mode: fs.ModeSymlink | 0o777, Link: "/etc/nginx/sites-available/default"}},
	// pam-auth-update (libpam-runtime's postinst) writes these from the
	// pam_unix profile; sudo's PAM configuration includes them.
	"libpam-runtime": {
		{Name: "etc/pam.d/common-auth", Mode: 0o644, Data: []byte("auth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\tpam_deny.so\nauth\trequired\tpam_permit.so\n")},
		{Name: "etc/pam.d/common-account", Mode: 0o644, Data: []byte("account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so\naccount\trequisite\tpam_deny.so\naccount\trequired\tpam_permit.so\n")},
		{Name: "etc/pam.d/common-password", Mode: 0o644, Data: []byte("password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\npassword\trequisite\tpam_deny.so\npassword\trequired\tpam_permit.so\n")},
		{Name: "etc/pam.d/common-session", Mode: 0o644, Data: []byte("session\t[default=1]\tpam_permit.so\nsession\trequisite\tpam_deny.so\nsession\trequired\tpam_permit.so\nsession\trequired\tpam_unix.so\n")},
		{Name: "etc/pam.d/common-session-noninteractive", Mode: 0o644, Data: []byte("session\t[default=1]\tpam_permit.so\nsession\trequisite\tpam_deny.so\nsession\trequired\tpam_permit.so\nsession\trequired\tpam_unix.so\n")},
	},
	"docker.io": {dockerKeyFile()},
	// Debian's postinst makes these alternatives (iptables-nft, Debian's
	// default); Docker and the CNI plugins call iptables by name.
	"iptables": {
		{Name: "usr/sbin/iptables", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
		{Name: "usr/sbin/iptables-save", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
		{Name: "usr/sbin/iptables-restore", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
		{Name: "usr/sbin/ip6tables", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
		{Name: "usr/sbin/ip6tables-save", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
		{Name: "usr/sbin/ip6tables-restore", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
	},
}

// extraDepends are dependencies a stand-in adds (see the package
// documentation).
var extraDepends = map[string][]string{
	"systemd": {"udev", "dbus", "kmod", "util-linux", "login", "e2fsprogs"},
}

// files reads a .deb's data archive into apktest files, content staged.
func files(ctx context.Context, deb, pkg string, st *stager) ([]apktest.File, error) {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: dpkg-deb: %v", ErrRepackage, err)
	}
	defer func() { _ = cmd.Wait() }()
	tr := tar.NewReader(out)
	var fl []apktest.File
	p := patches[pkg]
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v (%s)", ErrRepackage, deb, err, stderr.String())
		}
		name, keep := merged(h.Name)
		if !keep {
			continue
		}
		f := apktest.File{Name: name, UID: h.Uid, GID: h.Gid, Mode: fs.FileMode(h.Mode & 0o7777)}
		switch h.Typeflag {
		case tar.TypeDir:
			f.Mode |= fs.ModeDir
		case tar.TypeSymlink:
			f.Mode, f.Link = fs.ModeSymlink|0o777, h.Linkname
		case tar.TypeLink:
			target, ok := merged(h.Linkname)
			if !ok {
				continue
			}
			f.Hardlink, f.Link = true, target
		case tar.TypeReg:
			var r io.Reader = tr
			if p != nil {
				b, err := io.ReadAll(tr)
				if err != nil {
					return nil, err
				}
				nb, err := p(name, b)
				if err != nil {
					return nil, err
				}
				if nb != nil {
					b = nb
				}
				r = bytes.NewReader(b)
			}
			if f.Path, err = st.put(r); err != nil {
				return nil, err
			}
		default:
			continue
		}
		fl = append(fl, f)
	}
	if _, err := io.Copy(io.Discard, out); err != nil {
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("%w: dpkg-deb --fsys-tarfile %s: %v: %s", ErrRepackage, deb, err, stderr.String())
	}
	return append(fl, extra[pkg]...), ctx.Err()
}

// resolveDepends turns a Debian package's dependency clauses into APK
// dependencies on packages of the repository: the first alternative the
// repository has (by name or Provides) wins; a clause only excluded
// packages satisfy is dropped; anything else is an error.
func resolveDepends(c *control, have map[string]string, excluded map[string]bool) ([]string, error) {
	var out []string
	for _, clause := range c.Depends {
		var chosen string
		dropped := false
		for _, alt := range strings.Split(clause, "|") {
			n := depName(alt)
			if p, ok := have[n]; ok {
				chosen = p
				break
			}
			if excluded[n] {
				dropped = true
			}
		}
		switch {
		case chosen != "":
			if chosen != c.Package && !contains(out, chosen) {
				out = append(out, chosen)
			}
		case dropped:
		default:
			return nil, fmt.Errorf("%w: %s depends on %q, which nothing in the repository provides", ErrRepackage, c.Package, clause)
		}
	}
	for _, d := range extraDepends[c.Package] {
		if _, ok := have[d]; !ok {
			return nil, fmt.Errorf("%w: %s needs %s, which is not in the repository", ErrRepackage, c.Package, d)
		}
		if !contains(out, d) {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// checkConflicts fails when two packages ship the same non-directory path.
func checkConflicts(pkgs []apktest.Package) error {
	owner := map[string]string{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			if f.Mode&fs.ModeDir != 0 {
				continue
			}
			if o, ok := owner[f.Name]; ok && o != p.Name {
				return fmt.Errorf("%w: %s is in both %s and %s", ErrRepackage, f.Name, o, p.Name)
			}
			owner[f.Name] = p.Name
		}
	}
	return nil
}

// withParents adds the missing parent directories of files (0755) in
// front, parents first; the files keep their order (a hardlink comes after
// its target).
func withParents(fl []apktest.File) []apktest.File {
	have := map[string]bool{}
	for _, f := range fl {
		have[f.Name] = true
	}
	var dirs []apktest.File
	for _, f := range fl {
		for d := path.Dir(f.Name); d != "." && d != "/"; d = path.Dir(d) {
			if !have[d] {
				have[d] = true
				dirs = append(dirs, apktest.File{Name: d, Mode: fs.ModeDir | 0o755})
			}
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].Name < dirs[j].Name })
	return append(dirs, fl...)
}

// parallel runs fn for every index with at most n at once.
func parallel(ctx context.Context, count, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for i := 0; i < count; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}
