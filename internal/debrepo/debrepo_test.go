package debrepo

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/image/apk/apkversion"
	"github.com/hardvm/hardvm/vm"
)

func TestAPKVersion(t *testing.T) {
	for deb, want := range map[string]string{
		"252.39-1~deb12u2":        "252.39-r1122",
		"1:9.2p1-2+deb12u10":      "9.2_p1-r21210",
		"1:1.2.13.dfsg-1+deb12u1": "1.2.13-r1121",
		"30+20221128-1":           "30-r1",
		"6.1.192-3":               "6.1.192-r3",
		"2:4.0.2-3":               "4.0.2-r3",
		"3.0pl1-162":              "3.0_p1-r162",
		"1.0":                     "1.0-r0",
		"weird":                   "0-r0",
		"1.47.0-2+b2":             "1.47.0-r22",
	} {
		got := apkVersion(deb)
		if got != want {
			t.Errorf("apkVersion(%q) = %q, want %q", deb, got, want)
		}
		if !apkversion.Valid(got) {
			t.Errorf("apkVersion(%q) = %q is not a valid APK version", deb, got)
		}
	}
}

func TestMerged(t *testing.T) {
	for in, want := range map[string]string{
		"./bin/ls":                           "usr/bin/ls",
		"./sbin/":                            "",
		"./lib/systemd/systemd":              "usr/lib/systemd/systemd",
		"./lib64/ld-linux-x86-64.so.2":       "usr/lib64/ld-linux-x86-64.so.2",
		"./usr/share/doc/nginx/copyright":    "usr/share/doc/nginx/copyright",
		"./usr/share/doc/nginx/":             "usr/share/doc/nginx",
		"./usr/share/doc/nginx/changelog.gz": "",
		"./usr/share/man/man8/nginx.8.gz":    "",
		"./etc/nginx/nginx.conf":             "etc/nginx/nginx.conf",
		"./":                                 "",
		"./bin":                              "",
	} {
		got, keep := merged(in)
		if got != want || keep != (want != "") {
			t.Errorf("merged(%q) = %q, %v; want %q", in, got, keep, want)
		}
	}
}

func TestResolveDepends(t *testing.T) {
	have := map[string]string{"libc6": "libc6", "systemd": "systemd", "udev": "udev", "dbus": "dbus", "kmod": "kmod",
		"util-linux": "util-linux", "login": "login", "e2fsprogs": "e2fsprogs", "default-dbus-system-bus": "dbus"}
	excluded := map[string]bool{"debconf": true, "cron": true}
	c := &control{Package: "x", Depends: []string{"libc6 (>= 2.34)", "debconf (>= 0.5) | debconf-2.0", "cron | anacron | systemd-sysv", "default-dbus-system-bus | dbus-system-bus", "libc6:any"}}
	got, err := resolveDepends(c, have, excluded)
	if err != nil || !slices.Equal(got, []string{"dbus", "libc6"}) {
		t.Fatalf("resolveDepends = %v, %v", got, err)
	}
	// systemd gains what Debian's recommends or takes for granted.
	got, err = resolveDepends(&control{Package: "systemd", Depends: []string{"libc6"}}, have, excluded)
	if err != nil || !slices.Equal(got, []string{"dbus", "e2fsprogs", "kmod", "libc6", "login", "udev", "util-linux"}) {
		t.Fatalf("systemd depends %v, %v", got, err)
	}
	if _, err := resolveDepends(&control{Package: "x", Depends: []string{"nothing-provides-this"}}, have, excluded); !errors.Is(err, ErrRepackage) {
		t.Errorf("unsatisfiable dependency: %v", err)
	}
	if _, err := resolveDepends(&control{Package: "systemd"}, map[string]string{}, excluded); !errors.Is(err, ErrRepackage) {
		t.Errorf("stand-in dependency missing from the repository: %v", err)
	}
}

func TestCheckConflicts(t *testing.T) {
	a := apktest.Package{Name: "a", Files: []apktest.File{{Name: "usr", Mode: fs.ModeDir}, {Name: "usr/bin/x"}}}
	b := apktest.Package{Name: "b", Files: []apktest.File{{Name: "usr", Mode: fs.ModeDir}, {Name: "usr/bin/y"}}}
	if err := checkConflicts([]apktest.Package{a, b}); err != nil {
		t.Fatal(err)
	}
	b.Files = append(b.Files, apktest.File{Name: "usr/bin/x"})
	if err := checkConflicts([]apktest.Package{a, b}); !errors.Is(err, ErrRepackage) {
		t.Fatalf("conflict not found: %v", err)
	}
}

func TestWithParents(t *testing.T) {
	fl := withParents([]apktest.File{{Name: "usr/bin/b"}, {Name: "usr/bin/a", Hardlink: true, Link: "usr/bin/b"}, {Name: "etc", Mode: fs.ModeDir}})
	var names []string
	for _, f := range fl {
		names = append(names, f.Name)
	}
	if want := []string{"usr", "usr/bin", "usr/bin/b", "usr/bin/a", "etc"}; !slices.Equal(names, want) {
		t.Errorf("withParents: %v, want %v (parents first, the files' order kept)", names, want)
	}
}

func TestPatches(t *testing.T) {
	conf := []byte("user www-data;\nworker_processes auto;\n")
	if got, err := patches["nginx-common"]("etc/nginx/nginx.conf", conf); err != nil || string(got) != "user nginx;\nworker_processes auto;\n" {
		t.Errorf("nginx.conf patch: %q, %v", got, err)
	}
	if got, err := patches["nginx-common"]("etc/nginx/mime.types", conf); got != nil || err != nil {
		t.Error("a file without a patch changed")
	}
	squid := []byte("acl localnet src 10.0.0.0/8\n#http_access allow localnet\nhttp_access deny all\n")
	got, err := patches["squid"]("etc/squid/squid.conf", squid)
	if err != nil || !strings.Contains(string(got), "\nhttp_access allow localnet\n") || !strings.HasPrefix(string(got), "# Wolfi") ||
		!strings.Contains(string(got), "cache_effective_user squid\n") {
		t.Errorf("squid.conf patch: %q, %v", got, err)
	}
	// A patch whose text is missing fails, rather than ship Debian's file.
	if _, err := patches["squid"]("usr/lib/systemd/system/squid.service", []byte("[Service]\n")); !errors.Is(err, ErrRepackage) {
		t.Errorf("missing text: %v", err)
	}
	if _, err := patches["squid"]("etc/squid/squid.conf", []byte("http_access deny all\n")); !errors.Is(err, ErrRepackage) {
		t.Errorf("missing text: %v", err)
	}
}

func TestSplitDeps(t *testing.T) {
	if got := splitList(" a (>= 1), b | c ,, "); !slices.Equal(got, []string{"a (>= 1)", "b | c"}) {
		t.Errorf("splitList %q", got)
	}
	for in, want := range map[string]string{"perl:any": "perl", "libc6 (>= 2.34)": "libc6", " dbus [amd64]": "dbus"} {
		if got := depName(in); got != want {
			t.Errorf("depName(%q) = %q", in, got)
		}
	}
}

func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(context.Background(), WithCacheDir(dir)); !errors.Is(err, ErrMissing) {
		t.Fatalf("empty cache: %v", err)
	}
	if _, err := Open(context.Background(), WithCacheDir("")); err == nil {
		t.Fatal("empty cache dir accepted")
	}
	if _, err := Open(context.Background(), WithLogger(nil)); err == nil {
		t.Fatal("nil logger accepted")
	}
	t.Setenv("HARDVM_BOOT_CACHE", dir)
	if CacheDir() != dir {
		t.Error("HARDVM_BOOT_CACHE")
	}
	t.Setenv("HARDVM_BOOT_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", dir)
	if CacheDir() != filepath.Join(dir, "hardvm", "boot-packages") {
		t.Error("XDG_CACHE_HOME")
	}
}

// TestOpen makes (or reuses) the repository from the packages `make deps`
// fetched and checks what it holds: every Debian package of the closure
// but the excluded ones, the stand-ins, a signed index.
func TestOpen(t *testing.T) {
	r, err := Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Package{}
	for _, p := range r.Packages {
		names[p.Name] = p
		if !apkversion.Valid(p.Version) || len(p.Debian) == 0 {
			t.Errorf("package %+v", p)
		}
	}
	for _, want := range []string{"systemd", "udev", "dbus", "openssh-server", "nginx", "squid", "kmod", "libc6",
		"chainguard-baselayout", "busybox", "ca-certificates-bundle", "linux", "linux-lts", "systemd-boot-efi"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no %s in the repository", want)
		}
	}
	for _, never := range []string{"perl-base", "debconf", "dpkg", "adduser"} {
		if _, ok := names[never]; ok {
			t.Errorf("%s (only package scripts use it) is in the repository", never)
		}
	}
	if !names["chainguard-baselayout"].StandIn || names["libc6"].StandIn || !names["nginx-common"].StandIn {
		t.Error("stand-ins not marked as such")
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "x86_64", "APKINDEX.tar.gz")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(r.KeyPath()); err != nil || r.Spec().URL != r.URL() || r.Kernel == "" {
		t.Errorf("key %v, spec %+v, kernel %q", err, r.Spec(), r.Kernel)
	}
	debs := r.DebianPackages()
	if len(debs) < 100 || !slices.IsSorted(debs) || len(slices.Compact(slices.Clone(debs))) != len(debs) {
		t.Errorf("%d Debian packages, sorted and each once: %v", len(debs), debs)
	}
	// Opening again reuses the cached repository.
	again, err := Open(context.Background())
	if err != nil || again.Dir != r.Dir {
		t.Errorf("second Open: %v, %v", again, err)
	}
}

// The trust key debrepo gives Docker 20.10 is a libtrust JWK whose key
// ID matches its public key (Docker refuses it otherwise), the same for
// the same seed.
func TestDockerTrustKey(t *testing.T) {
	a, err := dockerTrustKey("1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := dockerTrustKey("1")
	c, _ := dockerTrustKey("2")
	if string(a) != string(b) || string(a) == string(c) {
		t.Fatalf("not one key per seed: %s %s %s", a, b, c)
	}
	var k map[string]string
	if err := json.Unmarshal(a, &k); err != nil {
		t.Fatal(err)
	}
	if k["kty"] != "EC" || k["crv"] != "P-256" || len(strings.Split(k["kid"], ":")) != 12 {
		t.Errorf("key %v", k)
	}
}

// The kernel of each architecture's repository carries the drivers of
// every platform that runs that architecture, and only modules that
// architecture has; an aarch64 repository needs Debian's arm64 packages
// in the arm64 directory of the cache.
func TestModulesFor(t *testing.T) {
	x86, arm := ModulesFor(vm.X86_64), ModulesFor(vm.Aarch64)
	for _, m := range []string{"ena", "gve", "hv_storvsc", "hv_netvsc", "nvme", "virtio_scsi", "sd_mod", "dm_verity", "erofs", "sr_mod"} {
		if !slices.Contains(x86, m) || !slices.Contains(arm, m) {
			t.Errorf("%s missing: x86_64 %v, aarch64 %v", m, slices.Contains(x86, m), slices.Contains(arm, m))
		}
	}
	for _, m := range []string{"vmw_pvscsi", "vmxnet3", "crc32c_intel"} {
		if !slices.Contains(x86, m) || slices.Contains(arm, m) {
			t.Errorf("%s: in x86_64's list %v, in aarch64's %v; want only x86_64's", m, slices.Contains(x86, m), slices.Contains(arm, m))
		}
	}
	if !slices.Equal(Modules, x86) {
		t.Error("Modules is not x86_64's list")
	}
	dir := t.TempDir()
	if _, err := Open(t.Context(), WithCacheDir(dir), WithArch(vm.Aarch64)); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), filepath.Join(dir, "arm64")) {
		t.Errorf("aarch64 without arm64 packages: %v", err)
	}
	if _, err := Open(t.Context(), WithArch("sparc")); err == nil {
		t.Error("an unknown architecture accepted")
	}
}
