package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// Release is what a build hands to [Publish]: the entry to record and the
// files behind it. Entry.Attachments carry the paths of the SBOM,
// provenance and bundle files.
type Release struct {
	Entry     Entry
	Artifacts []artifact.Artifact // the disk files, with Path set
}

// Stager is implemented by stores that keep an image's files themselves
// (an OCI registry keeps the disks as layers). Publish calls Stage with the
// verified release before any registrar, and the store's Put then refers
// to what was staged. Staged files are not visible in the catalog until
// Put.
type Stager interface {
	Stage(ctx context.Context, r *Release) error
}

// Verifier checks a release before anything of it is registered: its
// signatures, its provenance, its SBOM, the digests of its files. It need
// not read the files to check their digests: every registrar and stager
// reads them through [OpenArtifact], which refuses bytes that do not have
// the digest the release records. The provenance package's verification
// satisfies it through an adapter.
type Verifier interface {
	Verify(ctx context.Context, r *Release) error
}

// VerifierFunc adapts a function to [Verifier].
type VerifierFunc func(ctx context.Context, r *Release) error

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, r *Release) error { return f(ctx, r) }

// PublishOption configures [Publish] and [Deprecate].
type PublishOption func(*publishOptions) error

type publishOptions struct {
	verifier   Verifier
	unverified bool
	registrars []Registrar
	log        *slog.Logger
	published  time.Time
	jobs       int
}

// WithVerifier verifies the release before publishing it. Publish requires
// a verifier unless [PublishUnverifiedUnsafe] is given.
func WithVerifier(v Verifier) PublishOption {
	return func(o *publishOptions) error {
		if v == nil {
			return fmt.Errorf("%w: nil verifier", ErrInvalid)
		}
		o.verifier = v
		return nil
	}
}

// PublishUnverifiedUnsafe publishes without verification. It exists for
// tests and for catalogs fed by another trusted pipeline; never use it for
// builds from elsewhere.
func PublishUnverifiedUnsafe() PublishOption {
	return func(o *publishOptions) error { o.unverified = true; return nil }
}

// WithRegistrars registers the release on each registrar's target (for
// Deprecate: deprecates it there).
func WithRegistrars(rs ...Registrar) PublishOption {
	return func(o *publishOptions) error {
		for i, r := range rs {
			if r == nil {
				return fmt.Errorf("%w: registrar %d is nil", ErrInvalid, i)
			}
		}
		o.registrars = append(o.registrars, rs...)
		return nil
	}
}

// WithPublishLogger logs each step to l (default: discard).
func WithPublishLogger(l *slog.Logger) PublishOption {
	return func(o *publishOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalid)
		}
		o.log = l
		return nil
	}
}

// WithPublishedAt sets the entry's published time, when the entry has none
// (default: the build's SourceDateEpoch, so that publishing is
// reproducible). For Deprecate it is the deprecation time when the
// deprecation has none.
func WithPublishedAt(t time.Time) PublishOption {
	return func(o *publishOptions) error {
		if t.IsZero() {
			return fmt.Errorf("%w: zero publish time", ErrInvalid)
		}
		o.published = t.UTC()
		return nil
	}
}

// WithJobs bounds how many registrars work at once (default 4).
func WithJobs(n int) PublishOption {
	return func(o *publishOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: jobs %d", ErrInvalid, n)
		}
		o.jobs = n
		return nil
	}
}

func makePublishOptions(opts []PublishOption) (publishOptions, error) {
	o := publishOptions{log: slog.New(slog.DiscardHandler), jobs: 4}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Publish verifies a release, registers it on every registrar, then records
// its entry in store, last. So nothing unverified is ever registered, and a
// failure leaves nothing published: if one registrar fails, those that
// succeeded are rolled back and the error says which target failed and why.
//
// The release is verified first, every time, whether or not the catalog
// already holds it. Publishing is idempotent: if store already holds the
// entry's Ref with the same digest, Publish registers the image only on the
// registrars' targets that hold no location of it yet, records those
// locations (the store must be a [LocationRecorder] for that) and returns
// the stored entry; with another digest it fails with ErrConflict before
// registering anything.
func Publish(ctx context.Context, store Store, r Release, opts ...PublishOption) (Entry, error) {
	o, err := makePublishOptions(opts)
	if err != nil {
		return Entry{}, err
	}
	if o.verifier == nil && !o.unverified {
		return Entry{}, fmt.Errorf("%w: Publish needs WithVerifier (or PublishUnverifiedUnsafe)", ErrUnverified)
	}
	e := r.Entry
	if e.Published.IsZero() {
		e.Published = o.published
		if e.Published.IsZero() {
			e.Published = e.Ref.Version.Time()
		}
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	if err := checkRelease(&e, r.Artifacts); err != nil {
		return Entry{}, err
	}
	log := o.log.With("ref", e.Ref.String())

	// Verification first, every time: what the catalog holds says nothing
	// about the files given now.
	r.Entry = e
	if o.verifier != nil {
		if err := o.verifier.Verify(ctx, &r); err != nil {
			return Entry{}, fmt.Errorf("%w: %s: %w", ErrVerify, e.Ref, err)
		}
		log.Info("catalog: verified")
	} else {
		log.Warn("catalog: publishing unverified (PublishUnverifiedUnsafe)")
	}

	byVersion := e.Ref
	byVersion.Digest = ""
	switch old, err := store.Get(ctx, byVersion); {
	case err == nil && old.Ref.Digest == e.Ref.Digest:
		return publishKnown(ctx, store, &o, old, r.Artifacts, log)
	case err == nil:
		return Entry{}, fmt.Errorf("%w: %s is published with digest %s, not %s", ErrConflict, e.Ref.Stream()+":"+e.Ref.Version.String(), old.Ref.Digest, e.Ref.Digest)
	case !errors.Is(err, ErrNotFound):
		return Entry{}, fmt.Errorf("catalog: publish %s: %w", e.Ref, err)
	}

	if st, ok := store.(Stager); ok {
		if err := st.Stage(ctx, &r); err != nil {
			return Entry{}, fmt.Errorf("%w: %s: stage files in the catalog: %w", ErrPublish, e.Ref, err)
		}
		log.Info("catalog: staged")
	}
	locs, err := register(ctx, &o, &e, r.Artifacts)
	if err != nil {
		return Entry{}, err
	}
	e.Locations = append(e.Locations, locs...)
	sortLocations(e.Locations)

	stored, err := store.Put(ctx, e)
	if err != nil {
		rerr := rollback(ctx, &o, locs)
		return Entry{}, errors.Join(fmt.Errorf("%w: %s: record entry: %w", ErrPublish, e.Ref, err), rerr)
	}
	// Another publisher of the same build won the race: keep its entry and
	// withdraw what we registered that it does not list.
	if !slices.EqualFunc(stored.Locations, e.Locations, sameLocation) {
		var extra []Location
		for _, l := range locs {
			if !slices.ContainsFunc(stored.Locations, func(m Location) bool { return sameLocation(l, m) }) {
				extra = append(extra, l)
			}
		}
		if err := rollback(ctx, &o, extra); err != nil {
			log.Warn("catalog: concurrent publish: withdrawing duplicate registrations", "err", err)
		}
	}
	log.Info("catalog: published", "locations", len(stored.Locations))
	return stored, nil
}

// LocationRecorder is implemented by stores that can add locations to an
// entry they hold, so that [Publish] can register a known image on a new
// target.
type LocationRecorder interface {
	// AddLocations adds locs to the entry of r (r's digest, if set, must be
	// the entry's) and returns the updated entry. Locations the entry
	// already lists are kept once; the result is in [MergeLocations] order.
	AddLocations(ctx context.Context, r vm.Ref, locs []Location) (Entry, error)
}

// MergeLocations returns the locations of have and add, each once, in the
// catalog's order (target, region, format, ID). Stores implementing
// [LocationRecorder] use it.
func MergeLocations(have, add []Location) []Location {
	out := slices.Clone(have)
	for _, l := range add {
		if !slices.ContainsFunc(out, func(m Location) bool { return sameLocation(l, m) }) {
			out = append(out, l)
		}
	}
	sortLocations(out)
	return out
}

// publishKnown publishes a verified release that store already holds as
// old: it registers it on the targets that hold no location of it yet and
// records those locations.
func publishKnown(ctx context.Context, store Store, o *publishOptions, old Entry, files []artifact.Artifact, log *slog.Logger) (Entry, error) {
	var missing []Registrar
	for _, reg := range o.registrars {
		if !slices.ContainsFunc(old.Locations, func(l Location) bool { return l.Target == reg.Target() }) {
			missing = append(missing, reg)
		}
	}
	if len(missing) == 0 {
		log.Info("catalog: already published")
		return old, nil
	}
	lr, ok := store.(LocationRecorder)
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s is published and this catalog cannot add locations to a published entry (target %s)", ErrConflict, old.Ref, missing[0].Target())
	}
	oo := *o
	oo.registrars = missing
	locs, err := register(ctx, &oo, &old, files)
	if err != nil {
		return Entry{}, err
	}
	stored, err := lr.AddLocations(ctx, old.Ref, locs)
	if err != nil {
		rerr := rollback(ctx, &oo, locs)
		return Entry{}, errors.Join(fmt.Errorf("%w: %s: record new locations: %w", ErrPublish, old.Ref, err), rerr)
	}
	log.Info("catalog: published to new targets", "locations", len(locs))
	return stored, nil
}

// checkRelease checks that the files of the release are those the entry
// records.
func checkRelease(e *Entry, files []artifact.Artifact) error {
	for _, a := range e.Artifacts {
		i := slices.IndexFunc(files, func(f artifact.Artifact) bool { return f.Format == a.Format })
		if i < 0 {
			return fmt.Errorf("%w: %s: no file for artifact %s", ErrInvalid, e.Ref, a.Name)
		}
		f := files[i]
		if f.Digest != a.Digest || f.Size != a.Size {
			return fmt.Errorf("%w: %s: artifact %s is %s (%d bytes), entry records %s (%d bytes)", ErrInvalid, e.Ref, a.Name, f.Digest, f.Size, a.Digest, a.Size)
		}
		if f.Path == "" {
			return fmt.Errorf("%w: %s: artifact %s has no path", ErrInvalid, e.Ref, a.Name)
		}
	}
	if len(files) != len(e.Artifacts) {
		return fmt.Errorf("%w: %s: %d files for %d artifacts", ErrInvalid, e.Ref, len(files), len(e.Artifacts))
	}
	return nil
}

// register runs every registrar, each on the artifacts it accepts. On a
// failure it rolls back what succeeded.
func register(ctx context.Context, o *publishOptions, e *Entry, files []artifact.Artifact) ([]Location, error) {
	var (
		mu   sync.Mutex
		locs []Location
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	for _, reg := range o.registrars {
		g.Go(func() error {
			n := 0
			for _, a := range files {
				if !accepts(reg, a.Format) {
					continue
				}
				n++
				loc, err := reg.Register(gctx, a, *e)
				if err != nil {
					return &TargetError{Target: string(reg.Target()), Op: "register " + a.Name(), Err: err}
				}
				if loc.Target == "" {
					loc.Target = reg.Target()
				}
				if loc.Format == "" {
					loc.Format = a.Format
				}
				if loc.Digest == "" {
					loc.Digest = a.Digest
				}
				mu.Lock()
				locs = append(locs, loc)
				mu.Unlock()
				o.log.Info("catalog: registered", "ref", e.Ref.String(), "target", reg.Target(), "id", loc.ID)
			}
			if n == 0 {
				return &TargetError{Target: string(reg.Target()), Op: "register", Err: fmt.Errorf("no artifact in a format it accepts (have %s)", formats(files))}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		rerr := rollback(ctx, o, locs)
		return nil, errors.Join(fmt.Errorf("%w: %s: %w", ErrPublish, e.Ref, err), rerr)
	}
	return locs, nil
}

// rollback deregisters locs, even if ctx was cancelled (that is often why).
func rollback(ctx context.Context, o *publishOptions, locs []Location) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, l := range locs {
		i := slices.IndexFunc(o.registrars, func(r Registrar) bool { return r.Target() == l.Target })
		if i < 0 {
			continue
		}
		if err := o.registrars[i].Deregister(ctx, l); err != nil {
			errs = append(errs, &TargetError{Target: string(l.Target), Op: "roll back " + l.ID, Err: err})
			continue
		}
		o.log.Info("catalog: rolled back", "target", l.Target, "id", l.ID)
	}
	return errors.Join(errs...)
}

// accepts reports whether r takes artifacts of format f.
func accepts(r Registrar, f vm.DiskFormat) bool {
	if fa, ok := r.(FormatAccepter); ok {
		return fa.Accepts(f)
	}
	p, err := vm.LookupPlatform(r.Target())
	return err == nil && p.Accepts(f)
}

func formats(files []artifact.Artifact) string {
	var fs []string
	for _, f := range files {
		fs = append(fs, string(f.Format))
	}
	return strings.Join(fs, ", ")
}

// sameLocation reports whether a and b name the same registered image.
func sameLocation(a, b Location) bool {
	return a.Target == b.Target && a.Region == b.Region && a.ID == b.ID && a.Format == b.Format
}

func sortLocations(ls []Location) {
	slices.SortStableFunc(ls, func(a, b Location) int {
		return cmp.Or(cmp.Compare(a.Target, b.Target), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Format, b.Format), cmp.Compare(a.ID, b.ID))
	})
}

// Deprecate records that the image r should no longer be used: it asks
// every registrar given with [WithRegistrars] that implements [Deprecator]
// to deprecate the image's locations on its target, then records d in
// store. If a registrar fails, nothing is recorded and the error says which
// target failed; deprecating again is safe. A zero d.Time takes the time of
// [WithPublishedAt], which is then required.
func Deprecate(ctx context.Context, store Store, r vm.Ref, d Deprecation, opts ...PublishOption) (Entry, error) {
	o, err := makePublishOptions(opts)
	if err != nil {
		return Entry{}, err
	}
	if d.Time.IsZero() {
		if o.published.IsZero() {
			return Entry{}, fmt.Errorf("%w: deprecation of %s has no time (set it or use WithPublishedAt)", ErrInvalid, r)
		}
		d.Time = o.published
	}
	e, err := store.Get(ctx, r)
	if err != nil {
		return Entry{}, err
	}
	if d.Replacement != nil {
		if _, err := store.Get(ctx, *d.Replacement); err != nil {
			return Entry{}, fmt.Errorf("catalog: deprecate %s: replacement: %w", r, err)
		}
	}
	var errs []error
	for _, reg := range o.registrars {
		dep, ok := reg.(Deprecator)
		if !ok {
			continue
		}
		for _, l := range e.Locations {
			if l.Target != reg.Target() {
				continue
			}
			if err := dep.Deprecate(ctx, l, d); err != nil {
				errs = append(errs, &TargetError{Target: string(l.Target), Op: "deprecate " + l.ID, Err: err})
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Entry{}, fmt.Errorf("catalog: deprecate %s: %w", r, err)
	}
	return store.Deprecate(ctx, r, d)
}
