package hardvm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// Option configures [Release], [Build] and [Publish].
type Option func(*options) error

type options struct {
	outDir      string
	cacheDir    string
	signer      *provenance.Signer
	policy      *provenance.Policy
	trusted     *provenance.TrustedMaterial
	store       catalog.Store
	registrars  []catalog.Registrar
	logger      *slog.Logger
	progress    progress.Reporter
	builderID   string
	compress    bool
	notBootable bool
	unverified  bool
	creds       apk.Credentials
	client      *http.Client
	parallelism int // BuildPlatforms, ReleasePlatforms; 0: GOMAXPROCS
}

// WithOutputDir sets the directory the build writes into (default
// "hardvm-out"). Every file is written atomically.
func WithOutputDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return fmt.Errorf("%w: empty output directory", ErrRelease)
		}
		o.outDir = dir
		return nil
	}
}

// WithCacheDir sets the package cache shared by builds (default: a
// "cache" directory inside the output directory). Builds running at once,
// in one process or in several, may share it: its files are written
// atomically and its temporaries are locked by the build that made them
// (as 'hardvm build --platform P --platform Q' shares OUT/cache).
func WithCacheDir(dir string) Option { return func(o *options) error { o.cacheDir = dir; return nil } }

// WithSigner signs the attestations with s. By default an ephemeral ECDSA
// P-256 key is generated for the run and its public half written as key.pub.
// Publish trusts s's public key when no trusted material is given.
func WithSigner(s *provenance.Signer) Option {
	return func(o *options) error { o.signer = s; return nil }
}

// WithPolicy verifies the build against p before anything is published
// (default: provenance.NewPolicy(), plus RequireFIPS for FIPS specs).
func WithPolicy(p *provenance.Policy) Option {
	return func(o *options) error { o.policy = p; return nil }
}

// WithTrustedMaterial verifies against tm (default: the signer's public
// key). Publish needs it (or WithSigner): the key.pub a build directory
// holds proves nothing about who built it.
func WithTrustedMaterial(tm *provenance.TrustedMaterial) Option {
	return func(o *options) error { o.trusted = tm; return nil }
}

// WithStore records the published entry in s. Release and Publish require
// it.
func WithStore(s catalog.Store) Option { return func(o *options) error { o.store = s; return nil } }

// WithRegistrars registers the image on these targets when publishing.
func WithRegistrars(rs ...catalog.Registrar) Option {
	return func(o *options) error { o.registrars = append(o.registrars, rs...); return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithProgress reports the progress of every long step.
func WithProgress(p progress.Reporter) Option {
	return func(o *options) error { o.progress = p; return nil }
}

// WithBuilderID sets the SLSA builder id recorded in the provenance
// (default provenance.DefaultBuilderID), and required of it by the default
// policy.
func WithBuilderID(id string) Option { return func(o *options) error { o.builderID = id; return nil } }

// WithCredentials sets the credentials sent to repository hosts when
// resolving and fetching packages, each only to its own host and never
// after a redirect to another host or to plain HTTP. Without it, the
// environment's are used as apko and apk-tools users give them
// (HTTP_AUTH=basic:HOST:USER:PASSWORD[,...], then the netrc file).
// Credentials never appear in the lock, the SBOM, the provenance, the
// disks, logs or errors; a repository URL carrying user information is
// refused.
func WithCredentials(c apk.Credentials) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil credentials", ErrRelease)
		}
		o.creds = c
		return nil
	}
}

// WithHTTPClient sets the HTTP client used for http(s) repositories (for
// proxies, private CAs or timeouts).
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil HTTP client", ErrRelease)
		}
		o.client = c
		return nil
	}
}

// WithCompression compresses the formats that can be (qcow2).
func WithCompression(on bool) Option { return func(o *options) error { o.compress = on; return nil } }

// PublishNotBootableUnsafe lets Publish and Release register an image
// whose provenance names no kernel: its disks do not boot (an image built
// from a repository whose kernel package is a stand-in, say). Without it
// such an image is refused with [ErrNotBootable].
func PublishNotBootableUnsafe() Option {
	return func(o *options) error { o.notBootable = true; return nil }
}

// PublishUnverifiedUnsafe makes Publish read the build directory without
// checking any signature (builddir.ReadUnverifiedUnsafe) and publish it
// unverified (catalog.PublishUnverifiedUnsafe). It exists for tests and for
// directories another trusted pipeline verified; never use it for builds
// from elsewhere.
func PublishUnverifiedUnsafe() Option {
	return func(o *options) error { o.unverified = true; return nil }
}

// Output is everything a build wrote, as its directory's signed statements
// state it (builddir.Open).
type Output struct {
	Dir         string
	Lock        *artifact.Lock
	Disk        *image.Disk
	Artifacts   []artifact.Artifact // raw first, then the spec's formats
	Attachments []catalog.Attachment
	Kernel      string               // kernel version, "" when the image has no kernel (not bootable)
	FIPS        *fips.Report         // with fips: true
	Results     []*provenance.Result // in the directory's order, not Artifacts'; see [Output.Result]
	Entry       catalog.Entry

	build *builddir.Build // what Release publishes
}

func applyOptions(opts []Option) (options, error) {
	o := options{outDir: "hardvm-out", logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.cacheDir == "" {
		o.cacheDir = filepath.Join(o.outDir, "cache")
	}
	return o, nil
}

// Release runs the whole pipeline for spec: [Build] (resolve, install,
// assemble, export every format, SBOM, SLSA provenance, FIPS report when
// the spec asks for FIPS, sign, verify the directory), then [Publish]
// what it built: register it through the registrars and record the entry
// in the catalog (WithStore is required). Nothing is published unless
// verification passed, and nothing that does not boot unless
// [PublishNotBootableUnsafe] says so. The same spec (same lock, same
// SourceDateEpoch) gives the same digests.
func Release(ctx context.Context, spec vm.Spec, opts ...Option) (catalog.Entry, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return catalog.Entry{}, err
	}
	if o.store == nil {
		return catalog.Entry{}, stepError("publish", errors.New("no catalog store: give one with WithStore (or use Build)"))
	}
	p, err := newPlan(spec, o)
	if err != nil {
		return catalog.Entry{}, err
	}
	out, err := p.build(ctx)
	if err != nil {
		return catalog.Entry{}, err
	}
	return publish(ctx, o, out.build)
}

// Build runs Release without publishing: it writes the disks and their
// signed attestations into the output directory (the layout of package
// builddir), verifies the directory, and returns what it holds. A failed
// verification returns the Output with its Results (which artifact
// failed, and why) and the error. Publish the directory later, from this
// machine or another, with [Publish].
func Build(ctx context.Context, spec vm.Spec, opts ...Option) (*Output, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	p, err := newPlan(spec, o)
	if err != nil {
		return nil, err
	}
	return p.build(ctx)
}

// Publish publishes the build in dir, a directory Build wrote here or a
// copy of one from another machine, from the directory alone: it verifies
// every disk against the signed statements beside it under the policy
// (WithPolicy; default provenance.NewPolicy(), and a FIPS spec needs a
// signed passing FIPS report) with the caller's trusted material
// (WithTrustedMaterial, or WithSigner's key; the directory's own key.pub
// is never trusted), takes the image's identity, disks and bootability
// from the signed provenance and lock.json only if it is the lock that
// provenance attests, then registers the image through the registrars and
// records the entry in the store (WithStore is required). An image that
// does not boot is refused unless [PublishNotBootableUnsafe] says so.
func Publish(ctx context.Context, dir string, opts ...Option) (catalog.Entry, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return catalog.Entry{}, err
	}
	if o.store == nil {
		return catalog.Entry{}, stepError("publish", errors.New("no catalog store: give one with WithStore"))
	}
	var b *builddir.Build
	if o.unverified {
		b, err = builddir.ReadUnverifiedUnsafe(dir)
	} else {
		var policy *provenance.Policy
		var trusted *provenance.TrustedMaterial
		if policy, trusted, err = verification(o, false); err != nil {
			return catalog.Entry{}, stepError("verify", err)
		}
		b, err = builddir.Open(ctx, dir, policy, trusted, builddir.WithRootHashReader(RootHashReader))
	}
	if err != nil {
		return catalog.Entry{}, stepError("verify", err)
	}
	return publish(ctx, o, b)
}

// verification returns the policy and trusted material of o, applying the
// defaults: the default policy (requiring o's builder id and, with fips,
// a FIPS report) and o's signer's public key.
func verification(o options, requireFIPS bool) (*provenance.Policy, *provenance.TrustedMaterial, error) {
	policy, trusted := o.policy, o.trusted
	if policy == nil {
		var popts []provenance.PolicyOption
		if o.builderID != "" {
			popts = append(popts, provenance.RequireBuilder(o.builderID))
		}
		if requireFIPS {
			popts = append(popts, provenance.RequireFIPS())
		}
		var err error
		if policy, err = provenance.NewPolicy(popts...); err != nil {
			return nil, nil, err
		}
	}
	if trusted == nil {
		if o.signer == nil {
			return nil, nil, fmt.Errorf("%w: give the key or Sigstore root the build was signed with (WithTrustedMaterial); the key.pub beside the disks proves nothing", ErrUntrusted)
		}
		var err error
		if trusted, err = provenance.TrustKeys(o.signer.PublicKey()); err != nil {
			return nil, nil, err
		}
	}
	return policy, trusted, nil
}

// RootHashReader reads and proves the dm-verity root hash of a raw disk
// (image.ReadRootHashFile) for builddir.Verify; other formats are skipped
// (errors.ErrUnsupported): their root hash is their raw disk's.
func RootHashReader(ctx context.Context, path string) (string, error) {
	if !strings.HasSuffix(path, vm.FormatRaw.Ext()) {
		return "", fmt.Errorf("the root hash is read from the raw disk: %w", errors.ErrUnsupported)
	}
	return image.ReadRootHashFile(ctx, path)
}
