// Package debrepo makes a real, signed APK repository from Debian's own
// packages, offline, for the tests and examples that claim an image runs:
// systemd as PID 1, udev, D-Bus, OpenSSH, nginx and squid, containerd,
// runc and Docker, with Debian's kernel. scripts/fetch-boot-packages.sh (run by `make deps`) downloads the
// packages once into the cache; Open repackages them, once, into a
// repository under the cache and returns it.
//
// Every Debian package of the dependency closure becomes one APK of the
// same name, with its files (merged /usr: /bin, /sbin, /lib and /lib64
// move under /usr; documentation and manual pages are left out, as Wolfi
// splits them into -doc packages), its version in APK form and its
// dependencies resolved to packages of the repository. Dependencies only
// package scripts need (debconf, perl, dpkg, adduser, …; the fetch script's
// excluded.txt) are dropped: hardvm never runs package scripts.
//
// A few packages are made to look like what a Wolfi or Chainguard OS image
// has, and say so in their description:
//
//   - chainguard-baselayout: a test stand-in with the merged-/usr symlinks,
//     root and nobody in /etc/passwd and Debian's os-release;
//   - busybox: busybox-static with the applet symlinks no other package
//     ships (/bin/sh among them);
//   - ca-certificates-bundle: Debian's CA certificates as one bundle;
//   - docker: Wolfi's name for the Docker engine, depending on Debian's
//     docker.io;
//   - libpam-runtime carries the /etc/pam.d/common-* files pam-auth-update
//     writes for the pam_unix profile (sudo includes them);
//   - docker.io carries /etc/docker/key.json, the trust key Docker 20.10
//     would make at its first start (which a read-only /etc refuses): one
//     fixed key, so every machine has the same (deprecated) daemon ID;
//     Wolfi's Docker (23 and later) has no such key;
//   - iptables carries the iptables-nft alternatives Debian's postinst
//     makes (iptables, ip6tables and their -save and -restore);
//   - linux and linux-lts: Debian's kernel with the modules a virtio
//     machine (and a container host: overlay, bridge, veth, netfilter) needs (their dependencies included) and the module index
//     depmod makes, as a kernel package built for apko carries;
//   - systemd depends on udev, dbus, kmod, util-linux, login and e2fsprogs,
//     which Debian's systemd recommends or takes for granted;
//   - Debian's configuration follows Wolfi's conventions where the image's
//     configuration relies on them: nginx and squid run as the nginx and
//     squid accounts, nginx's default site is enabled and serves the page
//     nginx ships (/usr/share/nginx/html, on the verified root), squid
//     allows the local network as upstream's configuration does.
package debrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hardvm/hardvm/vm"
)

// KeyName is the file name of the repository's public key.
const KeyName = "hardvm-debian.rsa.pub"

// BuildTime is the build time every package of the repository states.
const BuildTime = 1700000000

// format changes whenever the repackaging changes, so that a cached
// repository made by an older version is made again.
const format = "debrepo 5"

// ErrMissing reports Debian packages that are not in the cache: run
// scripts/fetch-boot-packages.sh (make deps does).
var ErrMissing = errors.New("debrepo: Debian packages missing (run scripts/fetch-boot-packages.sh; make deps does)")

// ErrRepackage reports a Debian package that cannot be made an APK (a
// dependency nothing in the repository satisfies, a file two packages
// ship).
var ErrRepackage = errors.New("debrepo: repackaging")

// CacheDir is where scripts/fetch-boot-packages.sh puts the .deb files:
// $HARDVM_BOOT_CACHE, else $XDG_CACHE_HOME/hardvm/boot-packages, else
// ~/.cache/hardvm/boot-packages.
func CacheDir() string {
	if d := os.Getenv("HARDVM_BOOT_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "hardvm", "boot-packages")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "hardvm", "boot-packages")
}

// debianArch returns Debian's name of a (amd64, arm64).
func debianArch(a vm.Arch) string { return a.GOARCH() }

// Package is one APK of the repository.
type Package struct {
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	Description string   `json:"description"`
	Depends     []string `json:"depends,omitempty"`
	// Debian names the Debian packages it was made from, as name=version.
	Debian []string `json:"debian"`
	// StandIn is true for packages made to look like Wolfi's rather than
	// repackaged as they are (see the package documentation).
	StandIn bool `json:"stand_in,omitempty"`
}

// Repository is a repository Open made.
type Repository struct {
	Dir      string    `json:"-"` // the repository: Dir/<arch>/APKINDEX.tar.gz
	Arch     vm.Arch   `json:"arch"`
	Packages []Package `json:"packages"`
	// Kernel is the kernel's version (uname -r).
	Kernel string `json:"kernel"`
}

// URL returns the repository's file:// URL.
func (r *Repository) URL() string { return "file://" + r.Dir }

// KeyPath returns the path of the public key that signs the repository.
func (r *Repository) KeyPath() string { return filepath.Join(r.Dir, KeyName) }

// Spec returns the repository as a spec names it. Its packages carry the
// names Wolfi gives them, so it reads as a Wolfi repository.
func (r *Repository) Spec() vm.Repository {
	return vm.Repository{URL: r.URL(), Keys: []string{r.KeyPath()}, Family: vm.Wolfi}
}

// DebianPackages returns every Debian package the repository was made
// from, as name=version, sorted, each once.
func (r *Repository) DebianPackages() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range r.Packages {
		for _, d := range p.Debian {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Option configures Open.
type Option func(*options) error

type options struct {
	cache string
	arch  vm.Arch
	log   *slog.Logger
}

// WithArch makes the repository for arch (default x86_64) from Debian's
// packages of that architecture: for aarch64, Debian's arm64 packages,
// which the fetch script puts in the arm64 subdirectory of the cache
// (HARDVM_BOOT_ARCH=arm64 scripts/fetch-boot-packages.sh).
func WithArch(a vm.Arch) Option {
	return func(o *options) error {
		if !a.Valid() {
			return fmt.Errorf("debrepo: unknown architecture %q", a)
		}
		o.arch = a
		return nil
	}
}

// WithCacheDir reads the Debian packages from dir and keeps the repository
// there (default CacheDir()).
func WithCacheDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("debrepo: empty cache directory")
		}
		o.cache = dir
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("debrepo: nil logger")
		}
		o.log = l
		return nil
	}
}

// Open returns the repository made from the cached Debian packages,
// making it first if the cache has none for this set of packages (about
// half a minute; then it is reused). It never downloads anything.
func Open(ctx context.Context, opts ...Option) (*Repository, error) {
	o := options{cache: CacheDir(), arch: vm.X86_64, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.arch != vm.X86_64 {
		o.cache = filepath.Join(o.cache, debianArch(o.arch))
	}
	in, err := inputs(o.cache)
	if err != nil {
		return nil, err
	}
	in.arch = o.arch
	if o.arch != vm.X86_64 {
		// busybox lists its applets by running: the amd64 package's does.
		if m, _ := filepath.Glob(filepath.Join(filepath.Dir(o.cache), "busybox-static_*.deb")); len(m) > 0 {
			sort.Strings(m)
			in.hostBusybox = m[len(m)-1]
		} else {
			return nil, fmt.Errorf("%w: no amd64 busybox-static in %s to list the applets", ErrMissing, filepath.Dir(o.cache))
		}
	}
	dir := filepath.Join(o.cache, "apk", in.key())
	if r, err := load(dir); err == nil {
		return r, nil
	}
	o.log.InfoContext(ctx, "debrepo: repackaging Debian packages as APKs", "packages", len(in.runtime)+3, "dir", dir)
	tmp := dir + ".tmp-" + strconv.Itoa(os.Getpid())
	_ = os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	r, err := build(ctx, in, tmp, o.log)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(tmp, ".stage")); err != nil {
		return nil, err
	}
	// Another process may have made it meanwhile: its copy is as good.
	if err := os.Rename(tmp, dir); err != nil {
		if r, lerr := load(dir); lerr == nil {
			return r, nil
		}
		return nil, err
	}
	r.Dir = dir
	// Repositories made from other packages or by another debrepo are
	// removed once no process opened them for a day: until then another
	// checkout (another branch's debrepo) may still be reading one.
	if old, err := filepath.Glob(filepath.Join(o.cache, "apk", "*")); err == nil {
		for _, d := range old {
			fi, err := os.Stat(filepath.Join(d, "manifest.json"))
			if d != dir && !strings.Contains(filepath.Base(d), ".tmp-") && (err != nil || time.Since(fi.ModTime()) > staleAfter) {
				_ = os.RemoveAll(d)
			}
		}
	}
	return r, nil
}

// staleAfter is how long a repository no process opened is kept.
const staleAfter = 24 * time.Hour

func load(dir string) (*Repository, error) {
	manifest := filepath.Join(dir, "manifest.json")
	b, err := os.ReadFile(manifest)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	_ = os.Chtimes(manifest, now, now) // in use: not stale

	var r Repository
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	r.Dir = dir
	return &r, nil
}

// input is what a repository is made from: the .deb files and the lists
// the fetch script wrote.
type input struct {
	arch                  vm.Arch
	kernel, busybox, stub string   // .deb paths
	hostBusybox           string   // for another architecture: the amd64 busybox-static
	runtime               []string // .deb paths of runtime/
	excluded              map[string]bool
}

func inputs(cache string) (*input, error) {
	one := func(pattern string) (string, error) {
		m, _ := filepath.Glob(filepath.Join(cache, pattern))
		if len(m) == 0 {
			return "", fmt.Errorf("%w: no %s in %s", ErrMissing, pattern, cache)
		}
		sort.Strings(m)
		return m[len(m)-1], nil
	}
	in := &input{excluded: map[string]bool{}}
	var err error
	if in.kernel, err = one("linux-image-*.deb"); err != nil {
		return nil, err
	}
	if in.busybox, err = one("busybox-static_*.deb"); err != nil {
		return nil, err
	}
	if in.stub, err = one("systemd-boot-efi_*.deb"); err != nil {
		return nil, err
	}
	rt := filepath.Join(cache, "runtime")
	closure, err := os.ReadFile(filepath.Join(rt, "closure.txt"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMissing, err)
	}
	excl, err := os.ReadFile(filepath.Join(rt, "excluded.txt"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMissing, err)
	}
	for _, l := range strings.Fields(string(excl)) {
		in.excluded[l] = true
	}
	need := map[string]bool{"ca-certificates": true, "base-files": true}
	for _, l := range strings.Split(string(closure), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !in.excluded[f[0]] {
			need[f[0]] = true
		}
	}
	names := make([]string, 0, len(need))
	for n := range need {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, err := one(filepath.Join("runtime", n+"_*.deb"))
		if err != nil {
			return nil, err
		}
		in.runtime = append(in.runtime, p)
	}
	return in, nil
}

// key names the repository made from these inputs.
func (in *input) key() string {
	h := sha256.New()
	fmt.Fprintln(h, format)
	fmt.Fprintln(h, in.arch, strings.Join(ModulesFor(in.arch), " ")) // the kernel package carries these
	for _, p := range append([]string{in.kernel, in.busybox, in.stub}, in.runtime...) {
		fi, err := os.Stat(p)
		size := int64(-1)
		if err == nil {
			size = fi.Size()
		}
		fmt.Fprintln(h, filepath.Base(p), size)
	}
	var ex []string
	for n := range in.excluded {
		ex = append(ex, n)
	}
	sort.Strings(ex)
	fmt.Fprintln(h, strings.Join(ex, " "))
	return hex.EncodeToString(h.Sum(nil))[:16]
}
