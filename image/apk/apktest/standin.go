package apktest

import (
	"io/fs"
	"sort"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// StandIns returns small stand-in packages for everything the world of
// variant v asks for (vm.BasePackages, the variant's packages, extra, and
// kernel if not ""), laid out like Wolfi packages: chainguard-baselayout
// makes a merged /usr (bin, lib and sbin link into usr) and ships
// /etc/os-release, /etc/passwd and /etc/group; each unit of the variant is
// shipped by the first of its packages with an [Install] section, and the
// baseline's sshd.service and systemd-networkd.service by openssh-server
// and systemd. Files are placeholders (the kernel is not bootable): enough
// for image.Resolve, image.Build and configuration to run offline, as the
// quickstart does.
func StandIns(v vm.Variant, kernel string, extra ...string) []Package {
	dir := func(n string) File { return File{Name: n, Mode: fs.ModeDir | 0o755} }
	unit := func(name string) File {
		return File{Name: "usr/lib/systemd/system/" + name, Data: []byte("[Unit]\nDescription=" + name +
			"\n\n[Service]\nExecStart=/usr/bin/true\n\n[Install]\nWantedBy=multi-user.target\n")}
	}
	byName := map[string]*Package{}
	add := func(p Package) {
		if _, ok := byName[p.Name]; !ok {
			byName[p.Name] = &p
		}
	}
	add(Package{Name: "chainguard-baselayout", Version: "20250101-r0", License: "MIT",
		Provides: []string{"merged-usr", "merged-bin", "merged-sbin"}, Files: []File{
			dir("etc"), dir("usr"), dir("usr/bin"), dir("usr/lib"), dir("usr/sbin"), dir("var"), dir("home"),
			{Name: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
			{Name: "root", Mode: fs.ModeDir | 0o700},
			{Name: "bin", Mode: fs.ModeSymlink, Link: "usr/bin"},
			{Name: "sbin", Mode: fs.ModeSymlink, Link: "usr/bin"},
			{Name: "lib", Mode: fs.ModeSymlink, Link: "usr/lib"},
			{Name: "etc/os-release", Data: []byte("ID=chainguard\nNAME=\"Chainguard\"\nPRETTY_NAME=\"Chainguard (hardvm stand-in)\"\n")},
			{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")},
			{Name: "etc/group", Data: []byte("root:x:0:\nwheel:x:10:\nnobody:x:65534:\n")},
			{Name: "etc/shadow", Mode: 0o600, Data: []byte("root:*::0:::::\n")},
		}})
	add(Package{Name: "busybox", Version: "1.37.0-r0", License: "GPL-2.0-only", Depends: []string{"chainguard-baselayout"},
		Provides: []string{"cmd:sh=1.37.0-r0"}, Files: []File{
			{Name: "usr/bin/busybox", Mode: 0o755, Data: []byte("#!/bin/busybox stand-in\n")},
			{Name: "usr/bin/sh", Mode: fs.ModeSymlink, Link: "busybox"},
		}})
	add(Package{Name: "systemd", Version: "257.0-r0", License: "LGPL-2.1-or-later", Depends: []string{"chainguard-baselayout"},
		Files: []File{dir("usr/lib/systemd"), dir("usr/lib/systemd/system"), unit("systemd-networkd.service"),
			{Name: "usr/lib/systemd/systemd", Mode: 0o755, Data: []byte("systemd stand-in\n")}}})
	add(Package{Name: "openssh-server", Version: "9.9_p1-r0", License: "BSD-2-Clause", Depends: []string{"systemd"},
		Files: []File{unit("sshd.service"), {Name: "usr/sbin/sshd", Mode: 0o755, Data: []byte("sshd stand-in\n")}}})
	units := append([]string(nil), v.Units...)
	for _, name := range v.World(extra...) {
		name, _, _ = strings.Cut(name, "=")
		p := Package{Name: name, Version: "1.0.0-r0", License: "Apache-2.0", Depends: []string{"chainguard-baselayout"},
			Files: []File{{Name: "usr/share/" + name + "/README", Data: []byte(name + " stand-in\n")}}}
		if len(units) > 0 && byName[name] == nil {
			p.Files = append(p.Files, unit(units[0]))
			units = units[1:]
		}
		add(p)
	}
	if kernel != "" {
		add(Package{Name: kernel, Version: "6.12.0-r0", License: "GPL-2.0-only",
			Files: []File{dir("boot"), {Name: "boot/vmlinuz", Data: []byte("not a kernel: hardvm stand-in\n")}}})
	}
	// Units left (more units than packages): ship them with systemd.
	for _, u := range units {
		byName["systemd"].Files = append(byName["systemd"].Files, unit(u))
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Package, len(names))
	for i, n := range names {
		out[i] = *byName[n]
	}
	return out
}
