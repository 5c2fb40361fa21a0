package image_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
)

const unit = "[Unit]\nDescription=%s\n[Service]\nExecStart=/usr/bin/true\n[Install]\nWantedBy=multi-user.target\n"

// basePackages are small stand-ins for the packages of the base variant,
// with the layout real Wolfi packages have (merged /usr).
func basePackages() []apktest.Package {
	dir := func(n string) apktest.File { return apktest.File{Name: n, Mode: fs.ModeDir | 0o755} }
	return []apktest.Package{
		{Name: "chainguard-baselayout", Version: "20250101-r0", Provides: []string{"merged-usr"}, Files: []apktest.File{
			dir("etc"), dir("usr"), dir("usr/bin"), dir("usr/lib"), dir("tmp"),
			{Name: "bin", Mode: fs.ModeSymlink, Link: "usr/bin"},
			{Name: "lib", Mode: fs.ModeSymlink, Link: "usr/lib"},
			{Name: "etc/os-release", Data: []byte("ID=chainguard\nNAME=\"Chainguard\"\n")},
			{Name: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n")},
			{Name: "etc/group", Data: []byte("root:x:0:\nwheel:x:10:\nnobody:x:65534:\n")},
			{Name: "etc/shadow", Mode: 0o600, Data: []byte("root:*::0:::::\n")},
		}},
		{Name: "glibc", Version: "2.41-r1", Depends: []string{"chainguard-baselayout"}, Provides: []string{"so:libc.so.6=6"}, Files: []apktest.File{
			dir("usr"), dir("usr/lib"), {Name: "usr/lib/libc.so.6", Mode: 0o755, Data: []byte("\x7fELF libc")},
		}},
		{Name: "busybox", Version: "1.37.0-r2", Depends: []string{"so:libc.so.6"}, Provides: []string{"cmd:sh=1.37.0-r2"},
			Scripts: map[string]string{".post-install": "#!/bin/sh\n/bin/busybox --install -s\n"},
			Files: []apktest.File{
				// Shipped under bin/: lands in usr/bin through the symlink.
				dir("bin"), {Name: "bin/busybox", Mode: 0o4755, Data: []byte("\x7fELF busybox")},
				{Name: "bin/sh", Hardlink: true, Link: "bin/busybox"},
			}},
		{Name: "systemd", Version: "257.1-r0", Depends: []string{"so:libc.so.6"}, Files: []apktest.File{
			dir("usr/lib/systemd"), dir("usr/lib/systemd/system"),
			{Name: "usr/lib/systemd/system/systemd-networkd.service", Data: []byte("[Install]\nWantedBy=multi-user.target\n")},
			{Name: "usr/lib/systemd/systemd", Mode: 0o755, Size: 4096, Xattrs: map[string]string{"security.ima": "x"}},
		}},
		{Name: "openssh-server", Version: "9.9-r0", Depends: []string{"so:libc.so.6"}, Files: []apktest.File{
			{Name: "usr/sbin/sshd", Mode: 0o755, Data: []byte("sshd")},
		}},
		{Name: "ca-certificates-bundle", Version: "20241121-r0", Files: []apktest.File{
			{Name: "etc/ssl/certs/ca-certificates.crt", Data: []byte("-----BEGIN CERTIFICATE-----\n")},
		}},
		{Name: "linux", Version: "6.12.9-r0", Files: []apktest.File{
			{Name: "boot/vmlinuz", Data: []byte("kernel")},
		}},
		{Name: "nginx", Version: "1.27.3-r0", BuildTime: 2000000000, Depends: []string{"so:libc.so.6"}, Files: []apktest.File{
			{Name: "usr/lib/systemd/system/nginx.service", Data: []byte(strings.ReplaceAll(unit, "%s", "nginx"))},
			{Name: "usr/sbin/nginx", Mode: 0o755, Data: []byte("nginx")},
		}},
	}
}

func writeRepo(t testing.TB, dir string, seed uint64, pkgs ...apktest.Package) *apktest.Repository {
	t.Helper()
	repo := apktest.NewRepository(dir, "x86_64", apktest.NewKey("hardvm-test", seed))
	repo.Add(pkgs...)
	if err := repo.Write(); err != nil {
		t.Fatal(err)
	}
	return repo
}

func baseSpec(repo *apktest.Repository, fam vm.RepositoryFamily) vm.Spec {
	return vm.Spec{
		Variant: "nginx", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1700000000,
		Repositories: []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: fam}},
		Users:        []vm.User{{Name: "alice", SSHKeys: []string{"ssh-ed25519 AAAAC3Nza alice@example"}, Groups: []string{"wheel"}, Sudo: true}},
		Hostname:     "vm1",
	}
}

func build(t *testing.T, spec vm.Spec, opts ...image.BuildOption) (*artifact.Lock, *image.Rootfs) {
	t.Helper()
	ctx := context.Background()
	lock, err := image.Resolve(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	root, err := image.Build(ctx, lock, append([]image.BuildOption{image.WithBuildStagingDir(t.TempDir())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return lock, root
}

func TestResolveAndBuild(t *testing.T) {
	repo := writeRepo(t, t.TempDir(), 1, basePackages()...)
	lock, root := build(t, baseSpec(repo, vm.Wolfi))

	var got []string
	for _, p := range lock.Packages {
		got = append(got, p.Name)
	}
	want := "busybox ca-certificates-bundle chainguard-baselayout glibc linux nginx openssh-server systemd"
	if strings.Join(got, " ") != want {
		t.Fatalf("lock packages = %v, want %s", got, want)
	}
	if k, ok := lock.Kernel(); !ok || k.Name != "linux" {
		t.Errorf("kernel = %v %v", k, ok)
	}
	for _, p := range lock.Packages {
		if p.SHA256 == "" || p.Checksum == "" || p.Size == 0 || p.Repository != repo.URL() {
			t.Errorf("lock package %+v incomplete", p)
		}
		if (p.Name == "busybox") != (len(p.Scripts) == 1) {
			t.Errorf("%s scripts = %v", p.Name, p.Scripts)
		}
	}

	// Merged /usr: busybox's bin/busybox is usr/bin/busybox, setuid, and
	// bin/sh its hardlink.
	fi, err := root.Lstat("usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	a := fi.Sys().(*image.FileAttr)
	if fi.Mode()&fs.ModeSetuid == 0 || a.Package != "busybox" || a.Nlink != 2 {
		t.Errorf("usr/bin/busybox: %v %+v", fi.Mode(), a)
	}
	if l, _ := root.Lstat("bin"); l.Mode()&fs.ModeSymlink == 0 {
		t.Error("bin is no longer a symlink")
	}
	if fi, _ := root.Lstat("usr/lib/systemd/systemd"); fi.Sys().(*image.FileAttr).Xattrs["security.ima"] != "x" {
		t.Error("xattr lost")
	}
	// nginx was built after SourceDateEpoch: its times are clamped.
	if fi, _ := root.Lstat("usr/sbin/nginx"); !fi.ModTime().Equal(lock.Spec.Epoch()) {
		t.Errorf("usr/sbin/nginx time %v, want the epoch %v", fi.ModTime(), lock.Spec.Epoch())
	}
	if fi, _ := root.Lstat("usr/bin/busybox"); !fi.ModTime().Equal(time.Unix(0, 0)) {
		t.Errorf("usr/bin/busybox time %v, want its build time", fi.ModTime())
	}

	// The installed database lists every package, and apk's state files.
	db, err := root.ReadFile("usr/lib/apk/db/installed")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := apk.ParseInstalled(bytes.NewReader(db))
	if err != nil || len(inst) != len(lock.Packages) {
		t.Fatalf("installed db: %d packages, %v", len(inst), err)
	}
	for _, ip := range inst {
		if ip.Checksum == "" || len(ip.Files) == 0 {
			t.Errorf("db entry %s: %+v", ip.Name, ip.Package)
		}
	}
	for name, wantIn := range map[string]string{
		"etc/apk/world":                    "nginx\n",
		"etc/apk/repositories":             repo.URL() + "\n",
		"etc/apk/keys/hardvm-test.rsa.pub": "BEGIN PUBLIC KEY",
		"etc/systemd/system/multi-user.target.wants/nginx.service": "",
		"etc/passwd":                               "alice:x:1000:1000::/home/alice:/bin/sh\n",
		"etc/group":                                "wheel:x:10:alice\n",
		"etc/shadow":                               "alice:*:",
		"etc/ssh/authorized_keys.d/alice":          "ssh-ed25519 AAAAC3Nza alice@example\n",
		"etc/sudoers.d/hardvm-users":               "alice ALL=(ALL) NOPASSWD: ALL",
		"usr/lib/sysctl.d/99-hardvm-baseline.conf": "kernel.kptr_restrict = 2\n",
		"etc/fstab":                                "tmpfs /tmp tmpfs nodev,nosuid,noexec,mode=1777 0 0\n",
		"etc/hostname":                             "vm1\n",
		"usr/lib/tmpfiles.d/00-hardvm.conf":        "d /var/home/alice 0700 1000 1000 -\n",
	} {
		b, err := root.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.Contains(string(b), wantIn) {
			t.Errorf("%s = %q, want it to contain %q", name, b, wantIn)
		}
	}
	if l, err := root.ReadLink("etc/systemd/system/multi-user.target.wants/nginx.service"); err != nil || l != "/usr/lib/systemd/system/nginx.service" {
		t.Errorf("wants symlink = %q, %v", l, err)
	}
	// A baseline service that a package ships is enabled too; one no
	// package ships (sshd.service here) is not.
	if _, err := root.ReadLink("etc/systemd/system/multi-user.target.wants/systemd-networkd.service"); err != nil {
		t.Errorf("systemd-networkd not enabled: %v", err)
	}
	if _, err := root.Lstat("etc/systemd/system/multi-user.target.wants/sshd.service"); err == nil {
		t.Error("sshd.service enabled without a unit file")
	}
	if b, err := root.ReadFile("etc/machine-id"); err != nil || len(b) != 0 {
		t.Errorf("machine-id = %q, %v", b, err)
	}
	// /var is a partition of its own: fstab mounts it by the name
	// Assemble gives it, and /home lives on it.
	if fstab, _ := root.ReadFile("etc/fstab"); !strings.Contains(string(fstab), "PARTLABEL=var /var ext4 nodev,nosuid,noexec,x-systemd.growfs 0 ") ||
		strings.Contains(string(fstab), "PARTLABEL=home") {
		t.Errorf("fstab:\n%s", fstab)
	}
	if l, err := root.ReadLink("home"); err != nil || l != "var/home" {
		t.Errorf("/home -> %q, %v", l, err)
	}
	if lock.Configuration == nil || lock.Configuration.Variant != "nginx" {
		t.Errorf("lock.Configuration = %+v", lock.Configuration)
	}
}

func TestBuildReproducibleFromLockJSON(t *testing.T) {
	repo := writeRepo(t, t.TempDir(), 1, basePackages()...)
	lock, root := build(t, baseSpec(repo, vm.Wolfi))
	j1, err := json.MarshalIndent(lock, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// Repeat the build from the lock's JSON alone, through a cache.
	var again artifact.Lock
	if err := json.Unmarshal(j1, &again); err != nil {
		t.Fatal(err)
	}
	root2, err := image.Build(context.Background(), &again, image.WithBuildStagingDir(t.TempDir()), image.WithBuildCacheDir(t.TempDir()), image.WithBuildWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer root2.Close()
	var a, b bytes.Buffer
	if err := root.WriteTar(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	if err := root2.WriteTar(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same lock built twice gives different trees")
	}
	j2, _ := json.MarshalIndent(&again, "", "  ")
	if !bytes.Equal(j1, j2) {
		t.Fatalf("lock JSON changed by a rebuild:\n%s\n%s", j1, j2)
	}
	// The same indexes give the same lock.
	lock3, err := image.Resolve(context.Background(), lock.Spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lock3.Packages {
		lock3.Packages[i].SHA256, lock3.Packages[i].Scripts = lock.Packages[i].SHA256, lock.Packages[i].Scripts
	}
	lock3.Configuration = lock.Configuration // what Build applied
	j3, _ := json.MarshalIndent(lock3, "", "  ")
	if !bytes.Equal(j1, j3) {
		t.Fatal("resolving again gives another lock")
	}
}

func TestResolveOverHTTP(t *testing.T) {
	dir := t.TempDir()
	repo := writeRepo(t, dir, 1, basePackages()...)
	var requests atomic.Int64
	// A real HTTP server on 127.0.0.1 serving the generated repository;
	// it checks the requests it gets.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Method != http.MethodGet || !strings.HasPrefix(r.UserAgent(), "hardvm") {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if requests.Load() == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable) // retried
			return
		}
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	spec := baseSpec(repo, vm.Chainguard)
	spec.Repositories[0].URL = srv.URL + "/"
	spec.Repositories[0].Keys = []string{srv.URL + "/hardvm-test.rsa.pub"}
	ctx := context.Background()
	lock, err := image.Resolve(ctx, spec, image.WithResolveHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	root, err := image.Build(ctx, lock, image.WithBuildHTTPClient(srv.Client()), image.WithBuildCacheDir(cache), image.WithBuildStagingDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
	n := requests.Load()
	cached, _ := filepath.Glob(filepath.Join(cache, "apk", "*.apk"))
	if len(cached) != len(lock.Packages) {
		t.Fatalf("%d packages cached, want %d", len(cached), len(lock.Packages))
	}
	// A second build reads the packages from the cache (the keys still come
	// from the repository), and a corrupt cache entry is caught and fetched
	// again.
	b, _ := os.ReadFile(cached[0])
	b[len(b)/2] ^= 0xff
	os.WriteFile(cached[0], b, 0o644)
	root, err = image.Build(ctx, lock, image.WithBuildHTTPClient(srv.Client()), image.WithBuildCacheDir(cache), image.WithBuildStagingDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
	if extra := requests.Load() - n; extra != 2 {
		t.Errorf("second build made %d requests, want 2 (the key and the corrupt package)", extra)
	}
}

func TestResolveMixedRepositories(t *testing.T) {
	pkgs := basePackages()
	wolfi := writeRepo(t, t.TempDir(), 1, pkgs[:4]...)
	cg := writeRepo(t, t.TempDir(), 2, pkgs[4:]...)
	spec := baseSpec(wolfi, vm.Wolfi)
	spec.Repositories = append(spec.Repositories, vm.Repository{URL: cg.URL(), Keys: []string{cg.KeyPath()}, Family: vm.Chainguard})
	_, err := image.Resolve(context.Background(), spec)
	if !errors.Is(err, image.ErrMixedRepositories) || !strings.Contains(err.Error(), "busybox-1.37.0-r2") || !strings.Contains(err.Error(), "ca-certificates-bundle-20241121-r0") {
		t.Fatalf("err = %v, want ErrMixedRepositories naming busybox and ca-certificates-bundle", err)
	}
}

func TestBuildRefusesMixedLock(t *testing.T) {
	repo := writeRepo(t, t.TempDir(), 1, basePackages()...)
	lock, err := image.Resolve(context.Background(), baseSpec(repo, vm.Wolfi))
	if err != nil {
		t.Fatal(err)
	}
	// Edit the lock by hand: one package from a Chainguard OS repository.
	lock.Repositories = append(lock.Repositories, artifact.Repository{URL: "https://cg.example/os", Family: vm.Chainguard})
	lock.Packages[len(lock.Packages)-1].Repository = "https://cg.example/os"
	if _, err := image.Build(context.Background(), lock, image.WithBuildStagingDir(t.TempDir())); !errors.Is(err, image.ErrMixedRepositories) {
		t.Fatalf("err = %v, want ErrMixedRepositories", err)
	}
}

func TestResolveUnsatisfiableAndUntrusted(t *testing.T) {
	repo := writeRepo(t, t.TempDir(), 1, basePackages()[:3]...)
	spec := baseSpec(repo, vm.Wolfi)
	_, err := image.Resolve(context.Background(), spec)
	var ue *apk.UnsatisfiableError
	if !errors.As(err, &ue) || ue.Chain[0] != "world" {
		t.Fatalf("err = %v, want an UnsatisfiableError from the world", err)
	}
	other := apktest.NewKey("other", 99)
	kp := filepath.Join(t.TempDir(), other.Name)
	os.WriteFile(kp, other.PublicPEM(), 0o644)
	spec.Repositories[0].Keys = []string{kp}
	_, err = image.Resolve(context.Background(), spec)
	var se *apk.SignerError
	if !errors.As(err, &se) || se.Keys[0] != "hardvm-test.rsa.pub" {
		t.Fatalf("err = %v, want a SignerError naming hardvm-test.rsa.pub", err)
	}
}
