package boottest

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/image/boot"
)

// Marker is what the init of the repository's image prints once it runs
// from the verified root.
const Marker = "HARDVM-MARKER: image init running from the verified root"

// Repository writes, under dir, a real signed APK repository (apktest) for
// x86_64 from Debian's own packages, enough for the base variant to build a
// bootable image:
//
//   - linux: the Debian kernel repackaged with its real version (uname -r)
//     but only the modules the initramfs needs (their dependencies
//     included) and modules.builtin, like a minimal linux-virt package;
//     linux-lts is the same files under the lts track's name;
//   - busybox: busybox-static's /bin/busybox;
//   - systemd-boot-efi: the systemd EFI stub;
//   - chainguard-baselayout: test stand-in with the directories and
//     /etc/os-release;
//   - systemd: test stand-in whose /sbin/init prints Marker and powers off
//     (the image's own init, run by hardvm's initramfs after verification);
//   - openssh-server, ca-certificates-bundle: empty test stand-ins, so the
//     base world resolves.
//
// It returns the repository; its URL and KeyPath go into a vm.Repository.
func Repository(tb testing.TB, dir string) *apktest.Repository {
	tb.Helper()
	kernelTree := KernelTree(tb)
	kroot := os.DirFS(kernelTree)
	k, err := boot.FindKernel(kroot, "")
	if err != nil {
		tb.Fatal(err)
	}
	info, err := boot.WriteInitramfs(context.Background(), io.Discard, kroot)
	if err != nil {
		tb.Fatal(err)
	}
	read := func(p string) []byte {
		tb.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	kernelFiles := map[string][]byte{}
	for _, m := range append(info.Modules, k.Image, k.Modules+"/modules.builtin", k.Modules+"/modules.order") {
		kernelFiles[m] = read(filepath.Join(kernelTree, m))
	}
	debVersion := func(deb string) string {
		// name_[epoch%3a]upstream-debrev_arch.deb -> upstream-r<debrev digits>
		v := strings.SplitN(filepath.Base(deb), "_", 3)[1]
		if i := strings.Index(v, "%3a"); i >= 0 {
			v = v[i+3:]
		}
		up, rev, _ := strings.Cut(v, "-")
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, strings.SplitN(rev, "+", 2)[0])
		if digits == "" {
			digits = "0"
		}
		up = strings.SplitN(up, "+", 2)[0]
		return up + "-r" + digits
	}
	kver := debVersion(Deb(tb, "linux-image-"))
	repo := apktest.NewRepository(dir, "x86_64", apktest.NewKey("hardvm-boot-test", 10))
	const epoch = 1700000000
	repo.Add(
		apktest.Package{Name: "linux", Version: kver, BuildTime: epoch, License: "GPL-2.0-only",
			Description: "Debian kernel " + k.Version + " (minimal module set) repackaged for hardvm boot tests",
			Files:       withDirs(kernelFiles, nil)},
		apktest.Package{Name: "linux-lts", Version: kver, BuildTime: epoch, License: "GPL-2.0-only",
			Description: "Debian kernel " + k.Version + " as the lts track", Files: withDirs(kernelFiles, nil)},
		apktest.Package{Name: "busybox", Version: debVersion(Deb(tb, "busybox-static")), BuildTime: epoch, License: "GPL-2.0-only",
			Description: "Debian busybox-static repackaged",
			Files:       withDirs(map[string][]byte{"bin/busybox": read(Busybox(tb))}, map[string]fs.FileMode{"bin/busybox": 0o755})},
		apktest.Package{Name: "systemd-boot-efi", Version: debVersion(Deb(tb, "systemd-boot-efi")), BuildTime: epoch, License: "LGPL-2.1-or-later",
			Description: "Debian systemd-boot-efi (the EFI stub) repackaged",
			Files:       withDirs(map[string][]byte{"usr/lib/systemd/boot/efi/linuxx64.efi.stub": Stub(tb)}, nil)},
		apktest.Package{Name: "chainguard-baselayout", Version: "1.0-r0", BuildTime: epoch,
			Description: "test stand-in: directories and os-release",
			Files: withDirs(map[string][]byte{
				"etc/os-release": []byte("ID=hardvm\nNAME=\"hardvm boot test\"\nVERSION_ID=1\n"),
				"dev/":           nil, "proc/": nil, "sys/": nil, "run/": nil, "tmp/": nil, "var/": nil,
			}, nil)},
		apktest.Package{Name: "systemd", Version: "1.0-r0", BuildTime: epoch, Depends: []string{"busybox"},
			Description: "test stand-in: an init that prints the boot marker and powers off",
			Files: withDirs(map[string][]byte{
				"sbin/init": []byte("#!/bin/busybox sh\n/bin/busybox echo '" + Marker + "'\n/bin/busybox poweroff -f\n"),
			}, map[string]fs.FileMode{"sbin/init": 0o755})},
		apktest.Package{Name: "openssh-server", Version: "1.0-r0", BuildTime: epoch, Description: "test stand-in (empty)"},
		apktest.Package{Name: "ca-certificates-bundle", Version: "1.0-r0", BuildTime: epoch, Description: "test stand-in (empty)"},
	)
	if err := repo.Write(); err != nil {
		tb.Fatal(err)
	}
	return repo
}

// withDirs returns the package files for files (a name ending in "/" is a
// directory), with every parent directory first, sorted.
func withDirs(files map[string][]byte, modes map[string]fs.FileMode) []apktest.File {
	dirs := map[string]bool{}
	for name := range files {
		if strings.HasSuffix(name, "/") {
			dirs[strings.TrimSuffix(name, "/")] = true
		}
		for d := path.Dir(strings.TrimSuffix(name, "/")); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for d := range dirs {
		names = append(names, d+"/")
	}
	for name := range files {
		if !strings.HasSuffix(name, "/") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []apktest.File
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			out = append(out, apktest.File{Name: strings.TrimSuffix(n, "/"), Mode: fs.ModeDir | 0o755})
			continue
		}
		out = append(out, apktest.File{Name: n, Mode: modes[n], Data: files[n]})
	}
	return out
}
