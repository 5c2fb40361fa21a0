package oci

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// Store is a catalog in one repository of an OCI registry. It is safe for
// concurrent use.
type Store struct {
	repo name.Repository
	ro   []remote.Option
	log  *slog.Logger
	jobs int

	mu      sync.Mutex
	entries map[string]catalog.Entry // by tag; entry tags are immutable
	tagMu   map[string]*sync.Mutex   // serialises Puts of one tag
}

// Option configures a [Store].
type Option func(*options) error

type options struct {
	remote    []remote.Option
	insecure  bool
	transport http.RoundTripper
	auth      authn.Authenticator
	log       *slog.Logger
	jobs      int
}

// WithInsecure talks plain HTTP to the registry (for a registry on
// 127.0.0.1 in tests or a trusted network).
func WithInsecure() Option { return func(o *options) error { o.insecure = true; return nil } }

// WithTransport sends requests through t.
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) error { o.transport = t; return nil }
}

// WithAuth authenticates with a (default: anonymous).
func WithAuth(a authn.Authenticator) Option { return func(o *options) error { o.auth = a; return nil } }

// WithLogger logs pushes to l (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("oci: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithRemoteOptions passes options to go-containerregistry's remote
// package (retry policy, user agent, ...), after the store's own.
func WithRemoteOptions(ro ...remote.Option) Option {
	return func(o *options) error { o.remote = append(o.remote, ro...); return nil }
}

// WithJobs bounds parallel requests (default 4).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("oci: jobs %d", n)
		}
		o.jobs = n
		return nil
	}
}

// New returns the catalog in repository repo, e.g. "registry.example/vm"
// or "127.0.0.1:5000/catalog".
func New(repo string, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler), jobs: 4, auth: authn.Anonymous}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.NewRepository(repo, append(nopts, name.StrictValidation)...)
	if err != nil {
		return nil, fmt.Errorf("%w: repository %q: %w", catalog.ErrInvalid, repo, err)
	}
	ro := []remote.Option{remote.WithAuth(o.auth), remote.WithJobs(o.jobs)}
	if o.transport != nil {
		ro = append(ro, remote.WithTransport(o.transport))
	}
	ro = append(ro, o.remote...)
	return &Store{repo: r, ro: ro, log: o.log, jobs: o.jobs, entries: map[string]catalog.Entry{}, tagMu: map[string]*sync.Mutex{}}, nil
}

// Repository returns the repository, e.g. "127.0.0.1:5000/catalog".
func (s *Store) Repository() string { return s.repo.String() }

// Reference returns the reference of r's image in the registry.
func (s *Store) Reference(r vm.Ref) string { return s.repo.Tag(Tag(r)).String() }

func (s *Store) opts(ctx context.Context) []remote.Option {
	return append(slices.Clip(s.ro), remote.WithContext(ctx))
}

func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

func regErr(op string, err error) error {
	// Not the registry's fault: the context ended, or a file was refused.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, catalog.ErrRejected) {
		return fmt.Errorf("oci: %s: %w", op, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRegistry, op, err)
}

// Stage uploads the files of a release (disks, then attachments) as blobs.
// Nothing staged is visible in the catalog until Put tags the image.
// It implements catalog.Stager, so catalog.Publish stages before it
// registers.
func (s *Store) Stage(ctx context.Context, r *catalog.Release) error {
	var layers []*fileLayer
	for _, a := range r.Artifacts {
		l, err := newFileLayer(a, DiskMediaType(a.Format))
		if err != nil {
			return fmt.Errorf("%w: artifact %s: %w", catalog.ErrInvalid, a.Name(), err)
		}
		layers = append(layers, l)
	}
	for _, a := range r.Entry.Attachments {
		if a.Path == "" {
			return fmt.Errorf("%w: attachment %s has no file", catalog.ErrInvalid, a.Kind)
		}
		l, err := newFileLayer(artifact.Artifact{Path: a.Path, Size: a.Size, Digest: a.Digest}, types.MediaType(a.MediaType))
		if err != nil {
			return fmt.Errorf("%w: attachment %s: %w", catalog.ErrInvalid, a.Kind, err)
		}
		layers = append(layers, l)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.jobs)
	for _, l := range layers {
		g.Go(func() error {
			if err := remote.WriteLayer(s.repo, l, s.opts(gctx)...); err != nil {
				return regErr("upload "+l.a.Path, err)
			}
			s.log.Info("oci: staged", "blob", l.h.String(), "file", l.a.Path)
			return nil
		})
	}
	return g.Wait()
}

// Put pushes e's image manifest and its referrers by digest, then tags the
// image: the tag is the entry. Its blobs must have been staged.
func (s *Store) Put(ctx context.Context, e catalog.Entry) (catalog.Entry, error) {
	if err := e.Validate(); err != nil {
		return catalog.Entry{}, err
	}
	tag := Tag(e.Ref)
	mu := s.lockTag(tag)
	defer mu.Unlock()

	if old, err := s.get(ctx, tag); err == nil {
		if old.Ref.Digest != e.Ref.Digest {
			return catalog.Entry{}, fmt.Errorf("%w: %s is published with digest %s, not %s", catalog.ErrConflict, s.Reference(e.Ref), old.Ref.Digest, e.Ref.Digest)
		}
		return old, nil
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return catalog.Entry{}, err
	}

	blob, err := entryBlob(e)
	if err != nil {
		return catalog.Entry{}, fmt.Errorf("oci: encode %s: %w", e.Ref, err)
	}
	o := s.opts(ctx)
	for _, b := range []struct {
		data []byte
		mt   types.MediaType
	}{{emptyConfig, EmptyMediaType}, {blob, EntryMediaType}} {
		if err := remote.WriteLayer(s.repo, static.NewLayer(b.data, b.mt), o...); err != nil {
			return catalog.Entry{}, regErr("upload entry of "+e.Ref.String(), err)
		}
	}
	img, err := imageManifest(e, blob)
	if err != nil {
		return catalog.Entry{}, fmt.Errorf("oci: manifest of %s: %w", e.Ref, err)
	}
	byDigest := s.repo.Digest(img.digest().String())
	if err := remote.Put(byDigest, img, o...); err != nil {
		return catalog.Entry{}, regErr(fmt.Sprintf("push image manifest of %s (were its disks staged?)", e.Ref), err)
	}
	subject := img.descriptor(ArtifactType)
	for _, a := range e.Attachments {
		h, err := hashOf(a.Digest)
		if err != nil {
			return catalog.Entry{}, fmt.Errorf("%w: attachment %s: %w", catalog.ErrInvalid, a.Kind, err)
		}
		layer := v1.Descriptor{MediaType: types.MediaType(a.MediaType), Size: a.Size, Digest: h, Annotations: map[string]string{annotationTitle: string(a.Kind)}}
		m, err := referrerManifest(a.MediaType, layer, subject, e.Published)
		if err != nil {
			return catalog.Entry{}, fmt.Errorf("oci: %s manifest of %s: %w", a.Kind, e.Ref, err)
		}
		if err := remote.Put(s.repo.Digest(m.digest().String()), m, o...); err != nil {
			return catalog.Entry{}, regErr(fmt.Sprintf("push %s of %s (was it staged?)", a.Kind, e.Ref), err)
		}
	}
	// Last: the tag makes the entry visible.
	if err := remote.Tag(s.repo.Tag(tag), img, o...); err != nil {
		return catalog.Entry{}, regErr("tag "+s.Reference(e.Ref), err)
	}
	// Read the tag back: another host may have tagged other content.
	d, err := remote.Head(s.repo.Tag(tag), o...)
	if err != nil {
		return catalog.Entry{}, regErr("read back "+s.Reference(e.Ref), err)
	}
	if d.Digest != img.digest() {
		old, err := s.get(ctx, tag)
		if err == nil && old.Ref.Digest == e.Ref.Digest {
			return old, nil
		}
		return catalog.Entry{}, fmt.Errorf("%w: %s was tagged with other content by a concurrent publisher", catalog.ErrConflict, s.Reference(e.Ref))
	}
	s.log.Info("oci: put", "ref", e.Ref.String(), "tag", s.Reference(e.Ref), "digest", img.digest().String())
	return e, nil
}

func (s *Store) lockTag(tag string) *sync.Mutex {
	s.mu.Lock()
	m, ok := s.tagMu[tag]
	if !ok {
		m = &sync.Mutex{}
		s.tagMu[tag] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m
}

// maxBlob bounds the entry and deprecation blobs read.
const maxBlob = 64 << 20

// fetchBlob reads a small blob and checks its digest.
func (s *Store) fetchBlob(ctx context.Context, d v1.Descriptor, what string) ([]byte, error) {
	if d.Size > maxBlob || d.Size < 0 {
		return nil, &catalog.CorruptError{Path: what, Err: fmt.Errorf("blob of %d bytes", d.Size)}
	}
	l, err := remote.Layer(s.repo.Digest(d.Digest.String()), s.opts(ctx)...)
	if err != nil {
		return nil, regErr("fetch "+what, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, regErr("fetch "+what, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxBlob+1))
	if err != nil {
		return nil, regErr("fetch "+what, err)
	}
	if got := sha(b); got != d.Digest {
		return nil, &catalog.CorruptError{Path: what, Err: &catalog.DigestError{What: what, Want: digestOf(d.Digest), Got: digestOf(got)}}
	}
	return b, nil
}

// fetchManifest returns the manifest at ref and its digest.
func (s *Store) fetchManifest(ctx context.Context, ref name.Reference) (*v1.Manifest, v1.Descriptor, error) {
	d, err := remote.Get(ref, s.opts(ctx)...)
	if err != nil {
		if notFound(err) {
			return nil, v1.Descriptor{}, fmt.Errorf("%w: %s", catalog.ErrNotFound, ref)
		}
		return nil, v1.Descriptor{}, regErr("get "+ref.String(), err)
	}
	if d.MediaType != types.OCIManifestSchema1 {
		return nil, d.Descriptor, &catalog.CorruptError{Path: ref.String(), Err: fmt.Errorf("media type %s, want an OCI image manifest", d.MediaType)}
	}
	var m v1.Manifest
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return nil, d.Descriptor, &catalog.CorruptError{Path: ref.String(), Err: err}
	}
	return &m, d.Descriptor, nil
}

// get returns the entry tagged tag, with its deprecation.
func (s *Store) get(ctx context.Context, tag string) (catalog.Entry, error) {
	s.mu.Lock()
	e, ok := s.entries[tag]
	s.mu.Unlock()
	var desc v1.Descriptor
	if !ok {
		var err error
		e, desc, err = s.fetchEntry(ctx, tag)
		if err != nil {
			return catalog.Entry{}, err
		}
		s.mu.Lock()
		s.entries[tag] = e
		s.mu.Unlock()
	}
	dep, err := s.fetchDeprecation(ctx, tag, desc)
	if err != nil {
		return catalog.Entry{}, err
	}
	e.Deprecation = dep
	return e, nil
}

// fetchEntry reads and checks the image tagged tag.
func (s *Store) fetchEntry(ctx context.Context, tag string) (catalog.Entry, v1.Descriptor, error) {
	ref := s.repo.Tag(tag)
	m, desc, err := s.fetchManifest(ctx, ref)
	if err != nil {
		return catalog.Entry{}, desc, err
	}
	corrupt := func(f string, a ...any) error {
		return &catalog.CorruptError{Path: ref.String(), Err: fmt.Errorf(f, a...)}
	}
	if m.ArtifactType != ArtifactType || len(m.Layers) == 0 || m.Layers[0].MediaType != EntryMediaType {
		return catalog.Entry{}, desc, corrupt("not a hardvm image (artifactType %q)", m.ArtifactType)
	}
	b, err := s.fetchBlob(ctx, m.Layers[0], ref.String()+" entry")
	if err != nil {
		return catalog.Entry{}, desc, err
	}
	var e catalog.Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return e, desc, corrupt("entry: %w", err)
	}
	if e.Ref.String() != m.Annotations[AnnotationRef] || Tag(e.Ref) != tag {
		return e, desc, corrupt("entry of %s under tag %s annotated %q", e.Ref, tag, m.Annotations[AnnotationRef])
	}
	if len(m.Layers)-1 != len(e.Artifacts) {
		return e, desc, corrupt("%d disk layers for %d artifacts", len(m.Layers)-1, len(e.Artifacts))
	}
	for i, a := range e.Artifacts {
		l := m.Layers[i+1]
		if digestOf(l.Digest) != a.Digest || l.Size != a.Size || l.MediaType != DiskMediaType(a.Format) {
			return e, desc, corrupt("layer %d is %s %s (%d bytes), entry says %s %s (%d bytes)", i+1, l.MediaType, l.Digest, l.Size, DiskMediaType(a.Format), a.Digest, a.Size)
		}
	}
	return e, desc, nil
}

// fetchDeprecation reads the deprecation of the image tagged tag, if any.
func (s *Store) fetchDeprecation(ctx context.Context, tag string, img v1.Descriptor) (*catalog.Deprecation, error) {
	ref := s.repo.Tag(tag + deprecatedSuffix)
	m, _, err := s.fetchManifest(ctx, ref)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.ArtifactType != DeprecationArtifactType || len(m.Layers) != 1 || m.Subject == nil {
		return nil, &catalog.CorruptError{Path: ref.String(), Err: fmt.Errorf("not a hardvm deprecation (artifactType %q)", m.ArtifactType)}
	}
	if img.Digest != (v1.Hash{}) && m.Subject.Digest != img.Digest {
		return nil, &catalog.CorruptError{Path: ref.String(), Err: fmt.Errorf("deprecates %s, the image is %s", m.Subject.Digest, img.Digest)}
	}
	b, err := s.fetchBlob(ctx, m.Layers[0], ref.String())
	if err != nil {
		return nil, err
	}
	var d catalog.Deprecation
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, &catalog.CorruptError{Path: ref.String(), Err: err}
	}
	return &d, nil
}

// Get returns the entry of r.
func (s *Store) Get(ctx context.Context, r vm.Ref) (catalog.Entry, error) {
	e, err := s.get(ctx, Tag(r))
	if err != nil {
		return e, err
	}
	if r.Digest != "" && r.Digest != e.Ref.Digest {
		return catalog.Entry{}, fmt.Errorf("%w: %s (the catalog has %s)", catalog.ErrNotFound, r, e.Ref)
	}
	return e, nil
}

// listedNotFound: a registry may list a tag before it resolves (the
// docker-registry filesystem driver creates a tag's directory before its
// link), so a listed tag whose manifest is not found is a Put in progress
// elsewhere, not yet in the catalog: Find and Latest skip it.

// candidates lists the entry tags whose stream and version q admits,
// newest first.
func (s *Store) candidates(ctx context.Context, q catalog.Query) ([]vm.Ref, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	tags, err := remote.List(s.repo, s.opts(ctx)...)
	if err != nil {
		if notFound(err) {
			return nil, nil // no repository yet: an empty catalog
		}
		return nil, regErr("list tags of "+s.repo.String(), err)
	}
	// The tag names the stream and version: filter on them before
	// fetching anything.
	loose := catalog.Query{Variant: q.Variant, Platform: q.Platform, Arch: q.Arch, Kernel: q.Kernel, FIPS: q.FIPS,
		MinVersion: q.MinVersion, MaxVersion: q.MaxVersion, IncludeDeprecated: true}
	var refs []vm.Ref
	for _, t := range tags {
		r, ok := parseTag(t)
		if !ok {
			continue
		}
		if loose.Matches(&catalog.Summary{Ref: r}) {
			refs = append(refs, r)
		}
	}
	slices.SortFunc(refs, func(a, b vm.Ref) int {
		return cmp.Or(b.Version.Compare(a.Version), strings.Compare(a.Stream(), b.Stream()))
	})
	return refs, nil
}

// Find returns the entries q selects, by stream then version.
func (s *Store) Find(ctx context.Context, q catalog.Query) ([]catalog.Entry, error) {
	refs, err := s.candidates(ctx, q)
	if err != nil {
		return nil, err
	}
	es := make([]catalog.Entry, len(refs))
	found := make([]bool, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.jobs)
	for i, r := range refs {
		g.Go(func() error {
			var err error
			es[i], err = s.get(gctx, Tag(r))
			if errors.Is(err, catalog.ErrNotFound) {
				return nil // listed, not yet readable: see listedNotFound
			}
			found[i] = err == nil
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []catalog.Entry
	for i, e := range es {
		if sum := e.Summary(); found[i] && q.Matches(&sum) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b catalog.Entry) int {
		return cmp.Or(strings.Compare(a.Ref.Stream(), b.Ref.Stream()), a.Ref.Version.Compare(b.Ref.Version))
	})
	return out, nil
}

// Latest returns the newest entry q selects: it fetches candidates from
// the newest back until one matches.
func (s *Store) Latest(ctx context.Context, q catalog.Query) (catalog.Entry, error) {
	refs, err := s.candidates(ctx, q)
	if err != nil {
		return catalog.Entry{}, err
	}
	for _, r := range refs {
		e, err := s.get(ctx, Tag(r))
		if errors.Is(err, catalog.ErrNotFound) {
			continue // listed, not yet readable: see listedNotFound
		}
		if err != nil {
			return catalog.Entry{}, err
		}
		if sum := e.Summary(); q.Matches(&sum) {
			return e, nil
		}
	}
	return catalog.Entry{}, fmt.Errorf("%w: no entry of %s matches the query", catalog.ErrNotFound, s.repo)
}

// Deprecate pushes a deprecation referrer of r's image and tags it
// <tag>.deprecated (replacing an earlier deprecation).
func (s *Store) Deprecate(ctx context.Context, r vm.Ref, d catalog.Deprecation) (catalog.Entry, error) {
	tag := Tag(r)
	e, desc, err := s.fetchEntry(ctx, tag)
	if err != nil {
		return catalog.Entry{}, err
	}
	if r.Digest != "" && r.Digest != e.Ref.Digest {
		return catalog.Entry{}, fmt.Errorf("%w: %s (the catalog has %s)", catalog.ErrNotFound, r, e.Ref)
	}
	e.Deprecation = &d
	if err := e.Validate(); err != nil {
		return catalog.Entry{}, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return catalog.Entry{}, fmt.Errorf("oci: %w", err)
	}
	o := s.opts(ctx)
	if err := remote.WriteLayer(s.repo, static.NewLayer(b, DeprecationArtifactType), o...); err != nil {
		return catalog.Entry{}, regErr("upload deprecation of "+r.String(), err)
	}
	for _, c := range []struct {
		data []byte
		mt   types.MediaType
	}{{emptyConfig, EmptyMediaType}} {
		if err := remote.WriteLayer(s.repo, static.NewLayer(c.data, c.mt), o...); err != nil {
			return catalog.Entry{}, regErr("upload config", err)
		}
	}
	layer := v1.Descriptor{MediaType: DeprecationArtifactType, Size: int64(len(b)), Digest: sha(b)}
	subject := v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest, ArtifactType: ArtifactType}
	m, err := referrerManifest(DeprecationArtifactType, layer, subject, d.Time)
	if err != nil {
		return catalog.Entry{}, fmt.Errorf("oci: %w", err)
	}
	if err := remote.Put(s.repo.Digest(m.digest().String()), m, o...); err != nil {
		return catalog.Entry{}, regErr("push deprecation of "+r.String(), err)
	}
	if err := remote.Tag(s.repo.Tag(tag+deprecatedSuffix), m, o...); err != nil {
		return catalog.Entry{}, regErr("tag deprecation of "+r.String(), err)
	}
	s.log.Info("oci: deprecated", "ref", e.Ref.String())
	return e, nil
}

// Referrers returns the descriptors of the artifacts that refer to r's
// image (SBOM, provenance, bundle, deprecation), through the Referrers API
// or the referrers tag schema.
func (s *Store) Referrers(ctx context.Context, r vm.Ref) ([]v1.Descriptor, error) {
	d, err := remote.Head(s.repo.Tag(Tag(r)), s.opts(ctx)...)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%w: %s", catalog.ErrNotFound, r)
		}
		return nil, regErr("head "+s.Reference(r), err)
	}
	idx, err := remote.Referrers(s.repo.Digest(d.Digest.String()), s.opts(ctx)...)
	if err != nil {
		return nil, regErr("referrers of "+s.Reference(r), err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, regErr("referrers of "+s.Reference(r), err)
	}
	out := im.Manifests
	for i, d := range out {
		// Some registries (go-containerregistry's own, v0.22) report the
		// config media type instead of the manifest's artifactType: read
		// the manifest.
		if d.ArtifactType == "" || d.ArtifactType == EmptyMediaType {
			m, _, err := s.fetchManifest(ctx, s.repo.Digest(d.Digest.String()))
			if err != nil {
				return nil, err
			}
			out[i].ArtifactType = m.ArtifactType
		}
	}
	return out, nil
}

var (
	_ catalog.Store  = (*Store)(nil)
	_ catalog.Stager = (*Store)(nil)
)
