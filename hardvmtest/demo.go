package hardvmtest

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
)

// DemoKeyName is the file name of the demo signing key in the repository.
const DemoKeyName = "hardvm-demo.rsa.pub"

// DemoRelease selects which versions the demo repository carries: release
// 1 is the baseline, release 2 upgrades a few packages (as a continuous
// stream of updates does), so that deltas between builds have something to
// show.
type DemoRelease int

// WriteDemoRepository writes the demo repository for arch into dir and
// returns the spec repository that reads it. Images built from it do not
// boot: its kernel packages are stand-ins without a kernel.
func WriteDemoRepository(dir string, arch vm.Arch, rel DemoRelease) (vm.Repository, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return vm.Repository{}, err
	}
	key := apktest.NewKey(DemoKeyName, 20261123)
	repo := apktest.NewRepository(abs, string(arch), key)
	repo.Description = "hardvm demo repository"
	for _, p := range packages(rel) {
		repo.Add(p)
	}
	if err := repo.Write(); err != nil {
		return vm.Repository{}, fmt.Errorf("hardvmtest: demo repository: %w", err)
	}
	return vm.Repository{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}, nil
}

const dir = fs.ModeDir | 0o755

func file(name string, size int64) apktest.File {
	return apktest.File{Name: name, Mode: 0o755, Size: size}
}

func text(name, content string) apktest.File {
	return apktest.File{Name: name, Mode: 0o644, Data: []byte(content)}
}

func unit(name, exec string) apktest.File {
	return text("usr/lib/systemd/system/"+name, "[Unit]\nDescription="+name+"\n\n[Service]\nExecStart="+exec+"\n\n[Install]\nWantedBy=multi-user.target\n")
}

func pkg(name, version, desc string, deps []string, files ...apktest.File) apktest.Package {
	return apktest.Package{
		Name: name, Version: version, Description: desc, License: "Apache-2.0",
		URL: "https://example.com/" + name, Maintainer: "hardvm demo <demo@hardvm.dev>",
		Commit: fmt.Sprintf("%040x", len(name)*7919+len(version)), BuildTime: 1763856000,
		Depends: deps, Files: files,
	}
}

func packages(rel DemoRelease) []apktest.Package {
	v := func(r1, r2 string) string {
		if rel >= 2 {
			return r2
		}
		return r1
	}
	osRelease := "ID=hardvm-demo\nNAME=\"hardvm demo OS\"\nPRETTY_NAME=\"hardvm demo OS (Wolfi-style)\"\nVERSION_ID=20251123\nHOME_URL=https://hardvm.dev\n"
	libc := pkg("glibc", v("2.42-r0", "2.42-r1"), "the GNU C library", nil,
		apktest.File{Name: "usr", Mode: dir}, apktest.File{Name: "usr/lib", Mode: dir},
		file("usr/lib/libc.so.6", 256<<10))
	libc.Provides = []string{"so:libc.so.6=6"}
	crypto := pkg("libcrypto3", v("3.6.0-r0", "3.6.0-r2"), "OpenSSL crypto library", []string{"so:libc.so.6"},
		file("usr/lib/libcrypto.so.3", 384<<10))
	crypto.Provides = []string{"so:libcrypto.so.3=3"}
	base := pkg("chainguard-baselayout", "20251123-r0", "base filesystem layout", nil,
		apktest.File{Name: "etc", Mode: dir}, apktest.File{Name: "usr", Mode: dir}, apktest.File{Name: "usr/bin", Mode: dir},
		apktest.File{Name: "usr/lib", Mode: dir}, apktest.File{Name: "var", Mode: dir}, apktest.File{Name: "home", Mode: dir},
		apktest.File{Name: "root", Mode: fs.ModeDir | 0o700}, apktest.File{Name: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		text("etc/os-release", osRelease),
		text("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
		text("etc/group", "root:x:0:\nnobody:x:65534:\n"),
		text("etc/hosts", "127.0.0.1 localhost\n"),
		apktest.File{Name: "bin", Mode: fs.ModeSymlink | 0o777, Link: "usr/bin"},
		apktest.File{Name: "sbin", Mode: fs.ModeSymlink | 0o777, Link: "usr/bin"},
		apktest.File{Name: "lib", Mode: fs.ModeSymlink | 0o777, Link: "usr/lib"},
	)
	busybox := pkg("busybox", v("1.37.0-r0", "1.37.0-r3"), "size optimized toolbox of many common UNIX utilities", []string{"so:libc.so.6"},
		file("usr/bin/busybox", 512<<10),
		apktest.File{Name: "usr/bin/sh", Mode: fs.ModeSymlink | 0o777, Link: "busybox"})
	systemd := pkg("systemd", "258.1-r0", "system and service manager", []string{"so:libc.so.6", "busybox"},
		apktest.File{Name: "usr/lib/systemd", Mode: dir}, apktest.File{Name: "usr/lib/systemd/system", Mode: dir},
		file("usr/lib/systemd/systemd", 1<<20),
		apktest.File{Name: "usr/bin/init", Mode: fs.ModeSymlink | 0o777, Link: "../lib/systemd/systemd"},
		text("usr/lib/systemd/system/multi-user.target", "[Unit]\nDescription=Multi-User System\n"),
		unit("systemd-networkd.service", "/usr/lib/systemd/systemd-networkd"),
		unit("systemd-resolved.service", "/usr/lib/systemd/systemd-resolved"),
		unit("systemd-timesyncd.service", "/usr/lib/systemd/systemd-timesyncd"))
	ssh := pkg("openssh-server", v("10.2_p1-r0", "10.2_p1-r1"), "OpenSSH server", []string{"so:libc.so.6", "so:libcrypto.so.3"},
		file("usr/bin/sshd", 768<<10), file("usr/bin/ssh-keygen", 384<<10), unit("sshd.service", "/usr/bin/sshd -D"))
	ca := pkg("ca-certificates-bundle", "20250911-r0", "CA certificates bundle", nil,
		apktest.File{Name: "etc/ssl", Mode: dir}, apktest.File{Name: "etc/ssl/certs", Mode: dir},
		text("etc/ssl/certs/ca-certificates.crt", "# demo bundle: no certificates\n"))

	app := func(name, version, unitName string, deps []string, size int64) apktest.Package {
		files := []apktest.File{file("usr/bin/"+name, size)}
		if unitName != "" {
			files = append(files, unit(unitName, "/usr/bin/"+name))
		}
		return pkg(name, version, name+" (demo)", append([]string{"so:libc.so.6"}, deps...), files...)
	}
	// The kernel packages are stand-ins without a kernel image or module
	// tree: images built from the demo repository are not bootable, and
	// hardvm says so. (image/boot's tests build bootable images from
	// Debian's kernel.)
	kernel := func(name, version string) apktest.Package {
		return pkg(name, version, "stand-in for the "+name+" kernel package (no kernel image)", nil,
			text("usr/share/doc/"+name+"/README", "The hardvm demo repository carries no kernel.\n"))
	}
	// FIPS: a stand-in OpenSSL FIPS provider with a real fipsmodule.cnf
	// (its module-mac is the HMAC openssl fipsinstall records) and the
	// hardened openssl.cnf, so that fips.Check can prove the image's FIPS
	// configuration from its files.
	module := make([]byte, 96<<10)
	for i := range module {
		module[i] = byte(i*31 + i>>8)
	}
	modCnf, err := fips.ModuleConfig(context.Background(), bytes.NewReader(module))
	if err != nil {
		panic(err) // reading a byte slice cannot fail
	}
	provider := pkg("openssl-provider-fips-3.1.2", "3.1.2-r5", "OpenSSL FIPS provider 3.1.2 (stand-in module)", []string{"so:libcrypto.so.3"},
		apktest.File{Name: "usr/lib/ossl-modules", Mode: dir},
		apktest.File{Name: "usr/lib/ossl-modules/fips.so", Mode: 0o755, Data: module},
		apktest.File{Name: "etc/ssl", Mode: dir},
		apktest.File{Name: "etc/ssl/fipsmodule.cnf", Mode: 0o644, Data: modCnf})
	fipsConf := pkg("openssl-config-fipshardened", "3.6.0-r0", "OpenSSL configuration enforcing FIPS", []string{"openssl-provider-fips-3.1.2"},
		apktest.File{Name: "etc/ssl", Mode: dir},
		apktest.File{Name: "etc/ssl/openssl.cnf", Mode: 0o644, Data: fips.OpenSSLConfig("/etc/ssl/fipsmodule.cnf")})
	return []apktest.Package{
		libc, crypto, base, busybox, systemd, ssh, ca, provider, fipsConf,
		kernel("linux", v("6.17.8-r0", "6.17.9-r0")), kernel("linux-lts", "6.12.58-r0"),
		app("containerd", "2.1.4-r0", "containerd.service", []string{"runc"}, 512<<10),
		app("runc", "1.3.1-r0", "", nil, 256<<10),
		app("nerdctl", "2.1.3-r0", "", nil, 256<<10),
		app("docker", "28.5.1-r0", "docker.service", []string{"containerd"}, 512<<10),
		app("kubelet", "1.34.1-r0", "kubelet.service", nil, 512<<10),
		app("amazon-ecs-agent", "1.98.0-r0", "ecs.service", nil, 256<<10),
		app("amazon-ssm-agent", "3.3.2746-r0", "amazon-ssm-agent.service", nil, 256<<10),
		app("aws-iam-authenticator", "0.7.7-r0", "", nil, 128<<10),
		app("openjdk-21-jre", "21.0.8-r0", "", nil, 1<<20),
		app("python-3.13", "3.13.7-r0", "", nil, 768<<10),
		app("nginx", v("1.29.1-r0", "1.29.2-r0"), "nginx.service", []string{"so:libcrypto.so.3"}, 512<<10),
		app("jenkins", "2.528-r0", "jenkins.service", []string{"openjdk-21-jre"}, 1<<20),
		app("squid", "7.1-r0", "squid.service", []string{"so:libcrypto.so.3"}, 512<<10),
	}
}
