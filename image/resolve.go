package image

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// ResolveOption configures [Resolve].
type ResolveOption func(*resolveOptions) error

type resolveOptions struct {
	fetch fetchOptions
}

// fetchOptions are what Resolve and Build share: how to reach
// repositories and whom to trust.
type fetchOptions struct {
	cacheDir string
	keyring  *apk.Keyring
	client   *http.Client
	creds    apk.Credentials // nil: the environment's (apk.EnvCredentials)
	log      *slog.Logger
	progress progress.Reporter
}

func (o *fetchOptions) fetcher() (*apk.Fetcher, error) {
	creds := o.creds
	if creds == nil {
		c, err := apk.EnvCredentials()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrResolve, err)
		}
		creds = c
	}
	opts := []apk.FetcherOption{apk.WithCredentials(creds)}
	if o.cacheDir != "" {
		opts = append(opts, apk.WithCacheDir(o.cacheDir))
	}
	if o.client != nil {
		opts = append(opts, apk.WithHTTPClient(o.client))
	}
	if o.log != nil {
		opts = append(opts, apk.WithLogger(o.log))
	}
	return apk.NewFetcher(opts...)
}

func (o *fetchOptions) logger() *slog.Logger {
	if o.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.log
}

func (o *fetchOptions) report(stage string, done, total int64) {
	if o.progress != nil {
		o.progress.Progress(stage, done, total)
	}
}

// WithResolveKeyring adds keys trusted for every repository's index, to
// those each repository of the spec names.
func WithResolveKeyring(k *apk.Keyring) ResolveOption {
	return func(o *resolveOptions) error { o.fetch.keyring = k; return nil }
}

// WithResolveHTTPClient sets the HTTP client for http(s) repositories.
func WithResolveHTTPClient(c *http.Client) ResolveOption {
	return func(o *resolveOptions) error {
		if c == nil {
			return fmt.Errorf("%w: nil HTTP client", ErrResolve)
		}
		o.fetch.client = c
		return nil
	}
}

// WithResolveCredentials sets the credentials sent to repository hosts
// (each only to its own host; see [apk.WithCredentials]). Without it,
// Resolve takes them from the environment as apko and apk-tools users give
// them: HTTP_AUTH=basic:HOST:USER:PASSWORD[,...], then the netrc file
// ($NETRC or ~/.netrc). apk.ChainCredentials() with no argument sends
// none. Credentials never appear in the lock, logs or errors; a
// repository URL carrying them is refused.
func WithResolveCredentials(c apk.Credentials) ResolveOption {
	return func(o *resolveOptions) error {
		if c == nil {
			return fmt.Errorf("%w: nil credentials", ErrResolve)
		}
		o.fetch.creds = c
		return nil
	}
}

// WithResolveLogger sets the logger of [Resolve] (default: discard).
func WithResolveLogger(l *slog.Logger) ResolveOption {
	return func(o *resolveOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrResolve)
		}
		o.fetch.log = l
		return nil
	}
}

// WithResolveProgress reports the stage "index" (indexes verified).
func WithResolveProgress(p progress.Reporter) ResolveOption {
	return func(o *resolveOptions) error { o.fetch.progress = p; return nil }
}

// WithResolveCacheDir sets the shared cache directory.
func WithResolveCacheDir(dir string) ResolveOption {
	return func(o *resolveOptions) error { o.fetch.cacheDir = dir; return nil }
}

// loadKeys returns a keyring with the keys (paths or URLs) and extra's.
func loadKeys(ctx context.Context, f *apk.Fetcher, locs []string, extra *apk.Keyring) (*apk.Keyring, error) {
	k := apk.NewKeyring()
	for _, loc := range locs {
		b, err := f.FetchKey(ctx, loc)
		if err != nil {
			return nil, err
		}
		if err := k.Add(path.Base(loc), b); err != nil {
			return nil, err
		}
	}
	for _, n := range extra.Names() {
		b, _ := extra.PEM(n)
		if err := k.Add(n, b); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// World returns the APK world of a spec: the variant's (base packages,
// then the variant's, then the spec's extra packages), or only the spec's
// packages when it names no variant. A spec that names a variant builds a
// bootable image, so its world also asks for the kernel of its track
// (spec.KernelTrack().Package(): linux or linux-lts); a spec without a
// variant asks for a kernel only by setting Kernel explicitly.
func World(spec vm.Spec) ([]string, error) {
	var world []string
	if spec.Variant != "" {
		v, err := vm.LookupVariant(spec.Variant)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrResolve, err)
		}
		world = v.World(spec.Packages...)
	} else {
		world = append(world, spec.Packages...)
	}
	if spec.Variant != "" || spec.Kernel != "" {
		k := spec.KernelTrack().Package()
		has := false
		for _, w := range world {
			if d, err := apk.ParseDependency(w); err == nil && d.Name == k {
				has = true
			}
		}
		if !has {
			world = append(world, k)
		}
	}
	if len(world) == 0 {
		return nil, fmt.Errorf("%w: empty world: the spec names no variant and no packages", ErrResolve)
	}
	if spec.FIPS {
		// Kernel-independent FIPS: the family's validated user-space module,
		// its configuration and entropy source replace the default flavours.
		fw, err := fips.Select(string(spec.RepositoryFamily()), world)
		if err != nil {
			return nil, fmt.Errorf("%w: fips: %w", ErrResolve, err)
		}
		world = fw
	}
	return world, nil
}

// Resolve turns a spec into a lock: it fetches and verifies the index of
// every repository of the spec (each signed by one of the keys the
// repository lists, or of WithResolveKeyring), and picks the packages the
// spec's world needs (see [World]) the way apk-tools would. An
// unsatisfiable world fails with an *apk.UnsatisfiableError showing who
// wanted what; Wolfi and Chainguard OS packages in one lock fail with
// [ErrMixedRepositories]. The same indexes give the same lock.
func Resolve(ctx context.Context, spec vm.Spec, opts ...ResolveOption) (*artifact.Lock, error) {
	var o resolveOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if !spec.Arch.Valid() {
		return nil, fmt.Errorf("%w: arch %q", ErrResolve, spec.Arch)
	}
	if len(spec.Repositories) == 0 {
		return nil, fmt.Errorf("%w: the spec names no repository", ErrResolve)
	}
	if err := checkRepositoryURLs(spec.Repositories); err != nil {
		return nil, err
	}
	world, err := World(spec)
	if err != nil {
		return nil, err
	}
	f, err := o.fetch.fetcher()
	if err != nil {
		return nil, err
	}
	log := o.fetch.logger()
	sources := make([]*apk.Source, len(spec.Repositories))
	repos := make([]artifact.Repository, len(spec.Repositories))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	var done int64
	for i, r := range spec.Repositories {
		g.Go(func() error {
			if r.Family != "" && !r.Family.Valid() {
				return fmt.Errorf("%w: repository %s: family %q", ErrResolve, r.URL, r.Family)
			}
			k, err := loadKeys(gctx, f, r.Keys, o.fetch.keyring)
			if err != nil {
				return fmt.Errorf("%w: repository %s: %w", ErrResolve, r.URL, err)
			}
			idx, digest, err := f.FetchIndex(gctx, r.URL, string(spec.Arch), k)
			if err != nil {
				return err
			}
			sources[i] = &apk.Source{Name: r.URL, Tag: r.Tag, Packages: idx.Packages}
			repos[i] = artifact.Repository{URL: r.URL, Family: r.Family, IndexDigest: digest, Keys: append([]string(nil), r.Keys...)}
			log.Info("image: index", "repository", r.URL, "packages", len(idx.Packages), "signer", idx.Signer)
			o.fetch.report("index", atomicAdd(&done), int64(len(spec.Repositories)))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, s := range sources {
		s.Packages = archOnly(s.Packages, string(spec.Arch))
	}
	res, err := apk.NewResolver(sources...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResolve, err)
	}
	sel, err := res.Resolve(world)
	if err != nil {
		return nil, err
	}
	familyOf := map[string]vm.RepositoryFamily{}
	for _, r := range spec.Repositories {
		familyOf[r.URL] = r.Family
	}
	lock := &artifact.Lock{Spec: spec, Arch: spec.Arch, Family: spec.RepositoryFamily(), World: world, Repositories: repos}
	side := map[vm.RepositoryFamily]string{}
	for _, s := range sel {
		fam := familyOf[s.Source.Name]
		if _, ok := side[fam]; !ok {
			side[fam] = s.String()
		}
		lock.Packages = append(lock.Packages, lockPackage(s))
	}
	if w, c := side[vm.Wolfi], side[vm.Chainguard]; w != "" && c != "" {
		return nil, fmt.Errorf("%w: %s from a Wolfi repository and %s from a Chainguard OS repository", ErrMixedRepositories, w, c)
	}
	if lock.Family == "" {
		for _, fam := range []vm.RepositoryFamily{vm.Chainguard, vm.Wolfi, vm.Alpine} {
			if side[fam] != "" {
				lock.Family = fam
				break
			}
		}
	}
	return lock, nil
}

func atomicAdd(p *int64) int64 { return atomic.AddInt64(p, 1) }

// checkRepositoryURLs refuses repository and key URLs with user
// information before anything records them.
func checkRepositoryURLs(repos []vm.Repository) error {
	for _, r := range repos {
		for _, loc := range append([]string{r.URL}, r.Keys...) {
			u, err := url.Parse(loc)
			if err != nil || u.User == nil {
				continue
			}
			return fmt.Errorf("%w: %w: %s carries user information; remove it and give the credentials with HTTP_AUTH=basic:%s:USER:PASSWORD, a netrc file, or image.WithResolveCredentials",
				ErrResolve, apk.ErrCredentialsInURL, apk.Redact(loc), u.Hostname())
		}
	}
	return nil
}

// archOnly keeps the packages of arch (and noarch ones).
func archOnly(pkgs []*apk.Package, arch string) []*apk.Package {
	out := pkgs[:0:0]
	for _, p := range pkgs {
		if p.Arch == "" || p.Arch == arch || p.Arch == "noarch" {
			out = append(out, p)
		}
	}
	return out
}

func lockPackage(s apk.Selected) artifact.Package {
	p := s.Package
	return artifact.Package{
		Name: p.Name, Version: p.Version, Arch: p.Arch, Checksum: p.Checksum,
		Size: p.Size, InstalledSize: p.InstalledSize, Repository: s.Source.Name,
		Origin: p.Origin, BuildTime: p.BuildTime, Commit: p.Commit, License: p.License, Maintainer: p.Maintainer,
		Description: p.Description, URL: p.URL,
		Depends: p.Depends, Provides: p.Provides,
	}
}
