package debrepo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/vm"
)

// Modules are the kernel modules the x86_64 repository's kernel carries
// (ModulesFor).
var Modules = ModulesFor(vm.X86_64)

// ModulesFor returns the kernel modules the repository's kernel for arch
// carries (with their dependencies): what the initramfs of every platform
// that runs arch loads (each platform's drivers from vm's table,
// boot.RootModules) and what a running machine loads through udev and
// kmod — /var's ext4, the NoCloud seed's iso9660 and FAT, a config drive's
// CD-ROM, systemd's autofs, efivarfs, fw_cfg, the ACPI power button logind
// powers off on.
func ModulesFor(arch vm.Arch) []string {
	out := slices.Clone(boot.DefaultModules)
	for _, p := range vm.Platforms() {
		if !slices.Contains(p.Arches, arch) {
			continue
		}
		for _, m := range boot.PlatformModules(p) {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	out = append(out, "virtio_rng", "virtio_console", "ext4", "crc32c_generic")
	if arch == vm.X86_64 {
		out = append(out, "crc32c_intel")
	}
	return append(out, "isofs", "sr_mod", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859_1",
		"autofs4", "efivarfs", "loop", "qemu_fw_cfg", "button", "evdev",
		// The container hosts': containerd's overlay snapshotter, Docker's
		// bridge network (veth pairs, the bridge, NAT through iptables-nft).
		"overlay", "veth", "bridge", "br_netfilter", "nf_tables", "nft_compat", "nft_chain_nat", "nft_masq",
		"nf_nat", "nf_conntrack", "xt_conntrack", "xt_MASQUERADE", "xt_addrtype", "xt_nat", "xt_tcpudp",
		"xt_mark", "xt_comment", "ip_tables", "ip6_tables", "iptable_nat", "iptable_filter", "ip6table_nat", "ip6table_filter")
}

// keySeed makes the repository's signing key (apktest keys derive from a
// seed: the same repository, the same bytes).
const keySeed = 20251215

func build(ctx context.Context, in *input, dir string, log *slog.Logger) (*Repository, error) {
	st := &stager{dir: filepath.Join(dir, ".stage")}
	if err := os.MkdirAll(st.dir, 0o755); err != nil {
		return nil, err
	}
	debs := append([]string{in.stub}, in.runtime...)
	ctrls := make([]*control, len(debs))
	if err := parallel(ctx, len(debs), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		c, err := readControl(ctx, debs[i])
		ctrls[i] = c
		return err
	}); err != nil {
		return nil, err
	}
	byName := map[string]*control{}
	have := map[string]string{} // a name Debian depends on -> the package
	for _, c := range ctrls {
		byName[c.Package] = c
		have[c.Package] = c.Package
	}
	for _, c := range ctrls {
		for _, p := range c.Provides {
			if _, ok := have[p]; !ok {
				have[p] = c.Package
			}
		}
	}

	// Every Debian package as it is, but base-files and ca-certificates,
	// which the stand-ins use.
	var conv []*control
	for _, c := range ctrls {
		if c.Package != "base-files" && c.Package != "ca-certificates" {
			conv = append(conv, c)
		}
	}
	pkgs := make([]apktest.Package, len(conv))
	man := make([]Package, len(conv))
	if err := parallel(ctx, len(conv), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		c := conv[i]
		deps, err := resolveDepends(c, have, in.excluded)
		if err != nil {
			return err
		}
		fl, err := files(ctx, c.deb, c.Package, st)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("Debian %s %s repackaged: %s", c.Package, c.Version, c.Description)
		_, standIn := patches[c.Package]
		if _, ok := extra[c.Package]; ok || len(extraDepends[c.Package]) > 0 {
			standIn = true
		}
		if standIn {
			desc += " (configuration adapted to Wolfi's conventions)"
		}
		pkgs[i] = apktest.Package{Name: c.Package, Version: apkVersion(c.Version), Description: desc,
			Origin: c.Source, URL: "https://packages.debian.org/" + c.Package, BuildTime: BuildTime,
			Depends: deps, Files: withParents(fl)}
		man[i] = Package{Name: c.Package, Version: pkgs[i].Version, Description: desc, Depends: deps,
			Debian: []string{c.Package + "=" + c.Version}, StandIn: standIn}
		return nil
	}); err != nil {
		return nil, err
	}

	// The stand-ins.
	base, err := baselayout(ctx, byName["base-files"], st)
	if err != nil {
		return nil, err
	}
	ca, err := caBundle(ctx, byName["ca-certificates"], st)
	if err != nil {
		return nil, err
	}
	bb, err := busybox(ctx, in.busybox, in.hostBusybox, pkgs, st)
	if err != nil {
		return nil, err
	}
	kernel, lts, kver, err := kernelPackages(ctx, in.kernel, in.arch, filepath.Join(dir, ".stage", "kernel"), st)
	if err != nil {
		return nil, err
	}
	standIns := []standIn{base, ca, bb, kernel, lts}
	// Wolfi calls the Docker engine's package docker; Debian docker.io.
	if c := byName["docker.io"]; c != nil {
		d := newStandIn("docker", apkVersion(c.Version), "Wolfi's name for Debian's docker.io (the Docker engine), which it depends on",
			[]string{c.Package + "=" + c.Version}, nil)
		d.pkg.Depends = []string{"docker.io"}
		d.man.Depends = d.pkg.Depends
		standIns = append(standIns, d)
	}
	for _, sp := range standIns {
		pkgs = append(pkgs, sp.pkg)
		man = append(man, sp.man)
	}
	if err := checkConflicts(slices.DeleteFunc(slices.Clone(pkgs), func(p apktest.Package) bool { return p.Name == "linux-lts" })); err != nil { // linux-lts repeats linux
		return nil, err
	}
	repo := apktest.NewRepository(dir, string(in.arch), apktest.NewKey(KeyName, keySeed))
	repo.Description = "hardvm test repository: Debian packages repackaged as APKs"
	repo.Add(pkgs...)
	log.DebugContext(ctx, "debrepo: writing the repository", "packages", len(pkgs))
	if err := repo.Write(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRepackage, err)
	}
	sort.Slice(man, func(i, j int) bool { return man[i].Name < man[j].Name })
	return &Repository{Dir: dir, Arch: in.arch, Packages: man, Kernel: kver}, nil
}

// standIn is a package debrepo makes rather than repackages.
type standIn struct {
	pkg apktest.Package
	man Package
}

func newStandIn(name, version, desc string, debian []string, fl []apktest.File) standIn {
	desc = "test stand-in: " + desc
	return standIn{
		pkg: apktest.Package{Name: name, Version: version, Description: desc, BuildTime: BuildTime, Files: withParents(fl)},
		man: Package{Name: name, Version: version, Description: desc, Debian: debian, StandIn: true},
	}
}

func dirEntry(name string, perm fs.FileMode) apktest.File {
	return apktest.File{Name: name, Mode: fs.ModeDir | perm}
}

func symlink(name, target string) apktest.File {
	return apktest.File{Name: name, Mode: fs.ModeSymlink | 0o777, Link: target}
}

func text(name, content string, perm fs.FileMode) apktest.File {
	return apktest.File{Name: name, Mode: perm, Data: []byte(content)}
}

// baselayout is chainguard-baselayout's stand-in: the merged-/usr layout,
// root and nobody, name service switch and hosts, Debian's os-release.
func baselayout(ctx context.Context, c *control, st *stager) (standIn, error) {
	if c == nil {
		return standIn{}, fmt.Errorf("%w: base-files not fetched", ErrMissing)
	}
	fl, err := files(ctx, c.deb, c.Package, st)
	if err != nil {
		return standIn{}, err
	}
	var osRelease []byte
	for _, f := range fl {
		if f.Name == "usr/lib/os-release" {
			if osRelease, err = os.ReadFile(f.Path); err != nil {
				return standIn{}, err
			}
		}
	}
	if osRelease == nil {
		return standIn{}, fmt.Errorf("%w: base-files has no usr/lib/os-release", ErrRepackage)
	}
	out := []apktest.File{
		dirEntry("dev", 0o755), dirEntry("proc", 0o555), dirEntry("sys", 0o555), dirEntry("run", 0o755),
		dirEntry("tmp", fs.ModeSticky|0o777), dirEntry("var", 0o755), dirEntry("var/cache", 0o755), dirEntry("var/lib", 0o755),
		dirEntry("var/log", 0o755), dirEntry("var/spool", 0o755), dirEntry("var/tmp", fs.ModeSticky|0o777),
		dirEntry("etc", 0o755), dirEntry("root", 0o700),
		dirEntry("home", 0o755), dirEntry("mnt", 0o755), dirEntry("opt", 0o755), dirEntry("srv", 0o755),
		dirEntry("usr", 0o755), dirEntry("usr/bin", 0o755), dirEntry("usr/sbin", 0o755), dirEntry("usr/lib", 0o755),
		dirEntry("usr/lib64", 0o755), dirEntry("usr/share", 0o755),
		symlink("bin", "usr/bin"), symlink("sbin", "usr/sbin"), symlink("lib", "usr/lib"), symlink("lib64", "usr/lib64"),
		text("usr/lib/os-release", string(osRelease), 0o644),
		symlink("etc/os-release", "../usr/lib/os-release"),
		text("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0o644),
		text("etc/group", "root:x:0:\nnobody:x:65534:\n", 0o644),
		text("etc/shadow", "root:!*:::::::\nnobody:!*:::::::\n", 0o600),
		text("etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n", 0o644),
		text("etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n", 0o644),
	}
	return newStandIn("chainguard-baselayout", apkVersion(c.Version),
		"Chainguard's base layout (merged /usr, root and nobody) with Debian's os-release",
		[]string{c.Package + "=" + c.Version}, out), nil
}

// caBundle is ca-certificates-bundle's stand-in: Debian's certificates as
// the one bundle file Wolfi's package ships.
func caBundle(ctx context.Context, c *control, st *stager) (standIn, error) {
	if c == nil {
		return standIn{}, fmt.Errorf("%w: ca-certificates not fetched", ErrMissing)
	}
	fl, err := files(ctx, c.deb, c.Package, st)
	if err != nil {
		return standIn{}, err
	}
	var certs []apktest.File
	for _, f := range fl {
		if strings.HasPrefix(f.Name, "usr/share/ca-certificates/") && strings.HasSuffix(f.Name, ".crt") && f.Path != "" {
			certs = append(certs, f)
		}
	}
	sort.Slice(certs, func(i, j int) bool { return certs[i].Name < certs[j].Name })
	var bundle bytes.Buffer
	for _, f := range certs {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			return standIn{}, err
		}
		bundle.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			bundle.WriteByte('\n')
		}
	}
	if len(certs) == 0 {
		return standIn{}, fmt.Errorf("%w: ca-certificates has no certificates", ErrRepackage)
	}
	return newStandIn("ca-certificates-bundle", apkVersion(c.Version),
		fmt.Sprintf("Debian's %d CA certificates as one bundle", len(certs)),
		[]string{c.Package + "=" + c.Version},
		[]apktest.File{{Name: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: bundle.Bytes()}}), nil
}

// busybox is busybox-static's binary with a symlink for every applet no
// other package of the repository ships.
// busybox makes the busybox stand-in from deb. Its applet list comes from
// running the binary; for another architecture's package, from running
// hostDeb's, which must be the same Debian version (the same
// configuration, so the same applets).
func busybox(ctx context.Context, deb, hostDeb string, others []apktest.Package, st *stager) (standIn, error) {
	c, err := readControl(ctx, deb)
	if err != nil {
		return standIn{}, err
	}
	lister := ""
	if hostDeb != "" {
		hc, err := readControl(ctx, hostDeb)
		if err != nil {
			return standIn{}, err
		}
		if hc.Version != c.Version {
			return standIn{}, fmt.Errorf("%w: busybox-static %s cannot list the applets of busybox-static %s (run the fetch script for both architectures)", ErrRepackage, hc.Version, c.Version)
		}
		hfl, err := files(ctx, hostDeb, "busybox-static", st)
		if err != nil {
			return standIn{}, err
		}
		for _, f := range hfl {
			if f.Name == "usr/bin/busybox" {
				lister = f.Path
			}
		}
	}
	fl, err := files(ctx, deb, "busybox-static", st)
	if err != nil {
		return standIn{}, err
	}
	var bin string
	for _, f := range fl {
		if f.Name == "usr/bin/busybox" {
			bin = f.Path
		}
	}
	if bin == "" {
		return standIn{}, fmt.Errorf("%w: busybox-static has no /bin/busybox", ErrRepackage)
	}
	if lister == "" {
		lister = bin
	}
	if err := os.Chmod(lister, 0o755); err != nil {
		return standIn{}, err
	}
	cmd := exec.CommandContext(ctx, lister, "--list-full")
	cmd.Args[0] = "busybox" // busybox picks the applet from argv[0]
	list, err := cmd.Output()
	if err != nil {
		return standIn{}, fmt.Errorf("%w: busybox --list-full: %v", ErrRepackage, err)
	}
	taken := map[string]bool{}
	for _, p := range others {
		for _, f := range p.Files {
			if f.Mode&fs.ModeDir == 0 && (strings.HasPrefix(f.Name, "usr/bin/") || strings.HasPrefix(f.Name, "usr/sbin/")) {
				taken[filepath.Base(f.Name)] = true
			}
		}
	}
	out := []apktest.File{{Name: "usr/bin/busybox", Mode: 0o755, Path: bin}}
	for _, l := range strings.Fields(string(list)) {
		name, keep := merged(l)
		base := filepath.Base(name)
		if !keep || taken[base] || base == "busybox" || strings.ContainsAny(base, "[") {
			continue
		}
		taken[base] = true
		out = append(out, symlink(name, "/usr/bin/busybox"))
	}
	return newStandIn("busybox", apkVersion(c.Version),
		"Debian busybox-static with the applet symlinks no other package ships",
		[]string{c.Package + "=" + c.Version}, out), nil
}

// kernelPackages makes linux and linux-lts from Debian's kernel: the image,
// the modules of Modules with their dependencies, and depmod's index.
func kernelPackages(ctx context.Context, deb string, arch vm.Arch, work string, st *stager) (linux, lts standIn, version string, err error) {
	c, err := readControl(ctx, deb)
	if err != nil {
		return linux, lts, "", err
	}
	tree, err := extract(ctx, deb, filepath.Join(work, "deb"))
	if err != nil {
		return linux, lts, "", err
	}
	root := os.DirFS(tree)
	info, err := boot.WriteInitramfs(ctx, io.Discard, root, boot.WithArch(arch), boot.WithModules(ModulesFor(arch)...))
	if err != nil {
		return linux, lts, "", fmt.Errorf("%w: kernel modules: %w", ErrRepackage, err)
	}
	k := info.Kernel
	kroot := filepath.Join(work, "root")
	copyIn := func(rel string) error {
		b, err := os.ReadFile(filepath.Join(tree, rel))
		if err != nil {
			return err
		}
		dst := filepath.Join(kroot, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}
	for _, m := range append(info.Modules, k.Modules+"/modules.builtin", k.Modules+"/modules.builtin.modinfo", k.Modules+"/modules.order") {
		if err := copyIn(m); err != nil {
			return linux, lts, "", err
		}
	}
	if out, err := exec.CommandContext(ctx, "depmod", "-b", kroot, k.Version).CombinedOutput(); err != nil {
		return linux, lts, "", fmt.Errorf("%w: depmod (install kmod): %v: %s", ErrRepackage, err, out)
	}
	var fl []apktest.File
	img, err := st.putFile(filepath.Join(tree, k.Image))
	if err != nil {
		return linux, lts, "", err
	}
	fl = append(fl, apktest.File{Name: k.Image, Mode: 0o644, Path: img})
	err = filepath.WalkDir(filepath.Join(kroot, "lib", "modules"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(kroot, p)
		name := "usr/" + filepath.ToSlash(rel)
		if d.IsDir() {
			fl = append(fl, dirEntry(name, 0o755))
			return nil
		}
		fl = append(fl, apktest.File{Name: name, Mode: 0o644, Path: p})
		return nil
	})
	if err != nil {
		return linux, lts, "", err
	}
	v := apkVersion(c.Version)
	debian := []string{c.Package + "=" + c.Version}
	desc := fmt.Sprintf("Debian's kernel %s with %d modules for virtio machines and depmod's index", k.Version, len(info.Modules))
	linux = newStandIn("linux", v, desc, debian, fl)
	lts = newStandIn("linux-lts", v, desc+", as the lts track", debian, fl)
	linux.pkg.License, lts.pkg.License = "GPL-2.0-only", "GPL-2.0-only"
	return linux, lts, k.Version, nil
}

func (s *stager) putFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return s.put(f)
}

// extract unpacks a .deb with dpkg-deb -x into dir.
func extract(ctx context.Context, deb, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: dpkg-deb -x %s: %v: %s", ErrRepackage, deb, err, out)
	}
	return dir, nil
}
