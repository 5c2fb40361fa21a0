package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/progress"
)

// BuildOption configures [Build].
type BuildOption func(*buildOptions) error

type buildOptions struct {
	fetch     fetchOptions
	staging   string
	workers   int
	configure bool
	rootfs    []RootfsOption
}

// WithBuildCacheDir caches fetched packages under dir, keyed by checksum.
func WithBuildCacheDir(dir string) BuildOption {
	return func(o *buildOptions) error { o.fetch.cacheDir = dir; return nil }
}

// WithBuildKeyring adds keys trusted to sign packages, to those the lock's
// repositories name.
func WithBuildKeyring(k *apk.Keyring) BuildOption {
	return func(o *buildOptions) error { o.fetch.keyring = k; return nil }
}

// WithBuildCredentials sets the credentials sent to repository hosts, as
// [WithResolveCredentials] does for Resolve (default: the environment's).
func WithBuildCredentials(c apk.Credentials) BuildOption {
	return func(o *buildOptions) error {
		if c == nil {
			return fmt.Errorf("%w: nil credentials", ErrResolve)
		}
		o.fetch.creds = c
		return nil
	}
}

// WithBuildHTTPClient sets the HTTP client for http(s) repositories.
func WithBuildHTTPClient(c *http.Client) BuildOption {
	return func(o *buildOptions) error {
		if c == nil {
			return fmt.Errorf("%w: nil HTTP client", ErrResolve)
		}
		o.fetch.client = c
		return nil
	}
}

// WithBuildLogger sets the logger of [Build] (default: discard).
func WithBuildLogger(l *slog.Logger) BuildOption {
	return func(o *buildOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrResolve)
		}
		o.fetch.log = l
		return nil
	}
}

// WithBuildProgress reports the stage "install" (packages installed of the
// lock's total).
func WithBuildProgress(p progress.Reporter) BuildOption {
	return func(o *buildOptions) error { o.fetch.progress = p; return nil }
}

// WithBuildStagingDir sets where the rootfs stages file content (default:
// the system's temporary directory). The tree's Close removes it.
func WithBuildStagingDir(dir string) BuildOption {
	return func(o *buildOptions) error { o.staging = dir; return nil }
}

// WithBuildWorkers sets how many packages are fetched, verified and staged
// at once (default: GOMAXPROCS).
func WithBuildWorkers(n int) BuildOption {
	return func(o *buildOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: %d workers", ErrResolve, n)
		}
		o.workers = n
		return nil
	}
}

// WithBuildRootfsOptions passes options (size limits) to the tree.
func WithBuildRootfsOptions(opts ...RootfsOption) BuildOption {
	return func(o *buildOptions) error { o.rootfs = append(o.rootfs, opts...); return nil }
}

// WithoutConfigure installs the packages only: no variant configuration
// even when the lock's spec names a variant.
func WithoutConfigure() BuildOption {
	return func(o *buildOptions) error { o.configure = false; return nil }
}

// installed is one package after verification, ready for the tree.
type installed struct {
	file    *apk.PackageFile
	entries []stagedEntry
}

// Build installs the lock's packages into a new [Rootfs]: each package is
// fetched (through the cache), verified (signature by a key of the lock's
// repositories or WithBuildKeyring, C:Q1 checksum and size as locked,
// datahash; reading stops at the first byte past the locked size, and at
// the first file past the declared installed size), its entries checked
// and staged (counted against the tree's total limit as they are staged),
// then installed all or nothing
// in dependency order. Install scripts are not run; Build records which
// packages carry them (and each file's SHA-256) in lock, and the bytes of
// files each package really installed as its InstalledSize. It writes the
// installed database, /etc/apk/world, /etc/apk/repositories and the keys,
// then configures the image from the lock's spec when it names a variant
// (see [Configure]) and records what it applied in lock.Configuration. Times are clamped to the spec's SourceDateEpoch: the
// same lock gives the same tree.
func Build(ctx context.Context, lock *artifact.Lock, opts ...BuildOption) (*Rootfs, error) {
	o := buildOptions{workers: runtime.GOMAXPROCS(0), configure: true, staging: os.TempDir()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if lock == nil || len(lock.Packages) == 0 {
		return nil, fmt.Errorf("%w: empty lock", ErrResolve)
	}
	if err := checkLockFamilies(lock); err != nil {
		return nil, err
	}
	epoch := lock.Spec.Epoch()
	f, err := o.fetch.fetcher()
	if err != nil {
		return nil, err
	}
	log := o.fetch.logger()
	var keyLocs []string
	for _, r := range lock.Repositories {
		keyLocs = append(keyLocs, r.Keys...)
	}
	keys, err := loadKeys(ctx, f, keyLocs, o.fetch.keyring)
	if err != nil {
		return nil, fmt.Errorf("%w: keys: %w", ErrResolve, err)
	}
	root, err := NewRootfs(o.staging, append([]RootfsOption{WithModTime(epoch)}, o.rootfs...)...)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			root.Close()
		}
	}()

	order := installOrder(lock.Packages)
	results := make([]*installed, len(order))
	turn := make([]chan struct{}, len(order)+1)
	for i := range turn {
		turn[i] = make(chan struct{})
	}
	close(turn[0])
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.workers)
	var done int64
	total := int64(len(order))
	o.fetch.report("install", 0, total)
	for i, idx := range order {
		p := &lock.Packages[idx]
		g.Go(func() error {
			res, err := fetchAndStage(gctx, f, keys, root, lock, p)
			if err != nil {
				return err
			}
			select {
			case <-turn[i]:
			case <-gctx.Done():
				return gctx.Err()
			}
			if err := root.install(p.Name, res.file.Info.Replaces, res.entries, epoch); err != nil {
				return err
			}
			results[i] = res
			close(turn[i+1])
			log.Debug("image: installed", "package", p.Name+"-"+p.Version, "entries", len(res.entries))
			o.fetch.report("install", atomicAdd(&done), total)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, idx := range order {
		p := &lock.Packages[idx]
		p.SHA256 = results[i].file.SHA256
		p.InstalledSize = results[i].file.Content // what was installed, at most what was declared
		p.Scripts = p.Scripts[:0]
		for s := range results[i].file.Scripts {
			p.Scripts = append(p.Scripts, s)
		}
		sort.Strings(p.Scripts)
		if len(p.Scripts) == 0 {
			p.Scripts = nil
		}
	}
	if err := writeAPKState(root, lock, order, results, keys); err != nil {
		return nil, err
	}
	lock.Configuration = nil
	if o.configure && lock.Spec.Variant != "" {
		cfg, err := Configure(root, lock.Spec)
		if err != nil {
			return nil, err
		}
		lock.Configuration = cfg
	}
	log.Info("image: built", "packages", len(order), "bytes", root.Size())
	ok = true
	return root, nil
}

// checkLockFamilies refuses a lock (made by hand, or edited) whose
// packages come from both Wolfi and Chainguard OS repositories.
func checkLockFamilies(lock *artifact.Lock) error {
	fam := map[string]string{}
	for _, r := range lock.Repositories {
		fam[r.URL] = string(r.Family)
	}
	side := map[string]string{}
	for _, p := range lock.Packages {
		f := fam[p.Repository]
		if _, ok := side[f]; !ok {
			side[f] = p.Name + "-" + p.Version
		}
	}
	if w, c := side["wolfi"], side["chainguard"]; w != "" && c != "" {
		return fmt.Errorf("%w: %s from a Wolfi repository and %s from a Chainguard OS repository", ErrMixedRepositories, w, c)
	}
	return nil
}

// fetchAndStage fetches, verifies and stages one package.
func fetchAndStage(ctx context.Context, f *apk.Fetcher, keys *apk.Keyring, root *Rootfs, lock *artifact.Lock, p *artifact.Package) (*installed, error) {
	ap := &apk.Package{Name: p.Name, Version: p.Version, Checksum: p.Checksum, Size: p.Size}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		rc, err := f.FetchPackage(ctx, p.Repository, string(lock.Arch), ap)
		if err != nil {
			return nil, err
		}
		res := &installed{}
		pf, err := apk.ReadPackage(rc, keys, p.Name+"-"+p.Version, func(h *tar.Header, r io.Reader) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, err := root.stageEntry(p.Name, h, r)
			if err != nil {
				return err
			}
			res.entries = append(res.entries, e)
			return nil
		}, apk.WithExpected(p.Checksum, p.Size), apk.WithExpectedInstalledSize(p.InstalledSize))
		rc.Close()
		if err == nil {
			if p.SHA256 != "" && p.SHA256 != pf.SHA256 {
				return nil, &apk.ChecksumError{What: "package " + p.Name + "-" + p.Version, Want: string(p.SHA256), Got: string(pf.SHA256)}
			}
			if a := pf.Info.Arch; a != "" && a != "noarch" && a != string(lock.Arch) {
				return nil, fmt.Errorf("%w: package %s-%s is for %s, the lock for %s", apk.ErrVerify, p.Name, p.Version, a, lock.Arch)
			}
			if pf.Info.Name != p.Name || pf.Info.Version != p.Version {
				return nil, fmt.Errorf("%w: package %s-%s contains %s", apk.ErrVerify, p.Name, p.Version, pf.Info)
			}
			res.file = pf
			return res, nil
		}
		lastErr = err
		// A corrupt cache entry: drop it and fetch once more.
		if cp := f.CachePath(p.Checksum); cp != "" && errorsIsVerify(err) {
			f.Evict(p.Checksum)
			continue
		}
		break
	}
	return nil, lastErr
}

// installOrder returns indexes of pkgs with dependencies before dependents
// (apk-tools' order), ties and cycles broken by name.
func installOrder(pkgs []artifact.Package) []int {
	byName := map[string]int{}
	for i, p := range pkgs {
		byName[p.Name] = i
		for _, pv := range p.Provides {
			if d, err := apk.ParseDependency(pv); err == nil {
				if _, ok := byName[d.Name]; !ok {
					byName[d.Name] = i
				}
			}
		}
	}
	for i, p := range pkgs { // own names win over provides
		byName[p.Name] = i
	}
	deps := make([][]int, len(pkgs))
	for i, p := range pkgs {
		for _, ds := range p.Depends {
			d, err := apk.ParseDependency(ds)
			if err != nil || d.Conflict {
				continue
			}
			if j, ok := byName[d.Name]; ok && j != i {
				deps[i] = append(deps[i], j)
			}
		}
	}
	names := make([]int, len(pkgs))
	for i := range names {
		names[i] = i
	}
	sort.Slice(names, func(a, b int) bool { return pkgs[names[a]].Name < pkgs[names[b]].Name })
	state := make([]int, len(pkgs)) // 0 new, 1 visiting, 2 done
	var out []int
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		ds := slices.Clone(deps[i])
		sort.Slice(ds, func(a, b int) bool { return pkgs[ds[a]].Name < pkgs[ds[b]].Name })
		for _, j := range ds {
			visit(j)
		}
		state[i] = 2
		out = append(out, i)
	}
	for _, i := range names {
		visit(i)
	}
	return out
}

// writeAPKState writes what apk-tools and scanners read: the installed
// database, the world, the repositories and the keys.
func writeAPKState(root *Rootfs, lock *artifact.Lock, order []int, results []*installed, keys *apk.Keyring) error {
	var db []apk.InstalledPackage
	for i := range order {
		pf := results[i].file
		info := *pf.Info
		var files []apk.InstalledFile
		for _, f := range dbFiles(results[i].entries) {
			sum := ""
			if f.sha1 != "" {
				raw, _ := hex.DecodeString(f.sha1)
				sum = "Q1" + base64.StdEncoding.EncodeToString(raw)
			}
			files = append(files, apk.InstalledFile{Name: f.name, Dir: f.isDir, UID: f.uid, GID: f.gid, Mode: uint32(unixMode(f.mode)), Checksum: sum})
		}
		db = append(db, apk.InstalledPackage{Package: &info, Files: files})
	}
	var buf bytes.Buffer
	if err := apk.WriteInstalled(&buf, db); err != nil {
		return err
	}
	write := func(name string, data []byte, perm fs.FileMode) error {
		dir := name[:strings.LastIndexByte(name, '/')]
		if err := root.MkdirAll(dir, 0o755, FileAttr{}); err != nil {
			return err
		}
		return root.WriteFile(name, bytes.NewReader(data), perm, FileAttr{})
	}
	if err := write("usr/lib/apk/db/installed", buf.Bytes(), 0o644); err != nil {
		return err
	}
	world := slices.Clone(lock.World)
	sort.Strings(world)
	if err := write("etc/apk/world", []byte(strings.Join(world, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	var repos strings.Builder
	for _, r := range lock.Repositories {
		if r.URL == "" {
			continue
		}
		if t := repoTag(lock, r.URL); t != "" {
			repos.WriteString("@" + t + " ")
		}
		repos.WriteString(r.URL + "\n")
	}
	if err := write("etc/apk/repositories", []byte(repos.String()), 0o644); err != nil {
		return err
	}
	for _, n := range keys.Names() {
		pem, _ := keys.PEM(n)
		if err := write("etc/apk/keys/"+n, pem, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func repoTag(lock *artifact.Lock, url string) string {
	for _, r := range lock.Spec.Repositories {
		if r.URL == url {
			return r.Tag
		}
	}
	return ""
}

func errorsIsVerify(err error) bool {
	return errors.Is(err, apk.ErrVerify) || errors.Is(err, apk.ErrFormat)
}
