package factory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/secdb"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// Stale is a stream whose lock changed since its latest catalog entry.
type Stale struct {
	Stream string `json:"stream"`
	// Spec is the stream's spec with the version of its next build
	// ([NextVersion]).
	Spec vm.Spec `json:"spec"`
	// Lock is the [LockDigest] of the lock the spec resolves to now.
	Lock digest.Digest `json:"lock"`
	// Latest is the stream's latest entry, nil when it has none.
	Latest *vm.Ref `json:"latest,omitempty"`
	// Delta is from Latest to what a build now would install, with the
	// security issues its upgrades fix.
	Delta catalog.Delta `json:"delta"`
}

// Job returns the build job of s.
func (s Stale) Job() Job {
	return Job{Stream: s.Stream, Spec: s.Spec, Lock: s.Lock, Fixes: s.Delta.Fixes}
}

// Check re-resolves each spec against its repositories as they are now
// and returns the streams whose lock differs from their latest catalog
// entry (by package names and versions, or the kernel), in spec order. A
// stream with no entry is stale. Nothing is downloaded but the indexes,
// each once per check however many streams read it; with [WithCacheDir]
// (or in a [Factory], in JetStream) the indexes are kept from one check to
// the next, and an unchanged index costs one conditional request per
// (repository, arch) and check, answered 304. The specs' version fields
// are ignored: the returned specs carry the next version.
func Check(ctx context.Context, store catalog.Store, specs []vm.Spec, opts ...Option) ([]Stale, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkStreams(specs); err != nil {
		return nil, err
	}
	// One transport for the check: it fetches each index once and gives
	// every stream a copy, which each verifies as it resolves.
	var base http.RoundTripper
	client := &http.Client{}
	if o.client != nil {
		*client = *o.client
		base = o.client.Transport
	}
	shared := newSharedFetches(base, o.indexState())
	client.Transport = shared
	ro := o
	ro.client, ro.cacheDir = client, ""

	results := make([]*Stale, len(specs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.concurrency)
	for i, spec := range specs {
		g.Go(func() error {
			lock, err := resolve(gctx, spec, ro)
			if err != nil {
				return err
			}
			s, err := staleness(gctx, store, spec, lock, o.fixes)
			if err != nil {
				return err
			}
			results[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// Every resolution verified what it read: keep the indexes.
	if err := shared.keep(ctx); err != nil {
		o.logger.Warn("factory: keeping the indexes for the next check", "err", err)
	}
	var out []Stale
	for _, s := range results {
		if s != nil {
			out = append(out, *s)
		}
	}
	o.logger.Info("factory: checked", "streams", len(specs), "stale", len(out), "requests", shared.sent.Load())
	return out, nil
}

// checkStreams refuses invalid specs and a stream listed twice.
func checkStreams(specs []vm.Spec) error {
	seen := map[string]bool{}
	for _, spec := range specs {
		s := spec.Ref().Stream()
		if seen[s] {
			return fmt.Errorf("%w: stream %s listed twice", ErrSpec, s)
		}
		seen[s] = true
		spec.SourceDateEpoch = max(spec.SourceDateEpoch, 1)
		if err := spec.Validate(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSpec, s, err)
		}
	}
	return nil
}

// resolve resolves spec with o's cache and client.
func resolve(ctx context.Context, spec vm.Spec, o options) (*artifact.Lock, error) {
	ro := []image.ResolveOption{image.WithResolveLogger(o.logger)}
	if o.cacheDir != "" {
		ro = append(ro, image.WithResolveCacheDir(o.cacheDir))
	}
	if o.client != nil {
		ro = append(ro, image.WithResolveHTTPClient(o.client))
	}
	lock, err := image.Resolve(ctx, spec, ro...)
	if err != nil {
		return nil, fmt.Errorf("factory: %s: %w", spec.Ref().Stream(), err)
	}
	return lock, nil
}

// staleness compares lock with the latest entry of spec's stream: nil
// when nothing changed.
func staleness(ctx context.Context, store catalog.Store, spec vm.Spec, lock *artifact.Lock, fixes catalog.FixIndex) (*Stale, error) {
	ref := spec.Ref()
	stream := ref.Stream()
	var latest *catalog.Entry
	e, err := store.Latest(ctx, catalog.StreamQuery(ref))
	switch {
	case errors.Is(err, catalog.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("factory: %s: latest entry: %w", stream, err)
	default:
		latest = &e
	}
	var prev vm.Version
	var from catalog.Entry
	if latest != nil {
		prev, from = latest.Ref.Version, *latest
	}
	v, err := NextVersion(lock, prev)
	if err != nil {
		return nil, fmt.Errorf("factory: %s: %w", stream, err)
	}
	spec = WithVersion(spec, v)
	next := catalog.Entry{Ref: spec.Ref()}
	next.Packages, next.InstalledSize = catalog.PackagesOf(lock)
	if k, ok := lock.Kernel(); ok {
		next.Kernel = k.Version
	}
	d := catalog.Diff(from, next)
	if latest != nil && d.Empty() {
		return nil, nil
	}
	d.AddFixes(fixes)
	s := &Stale{Stream: stream, Spec: spec, Lock: LockDigest(lock), Delta: d}
	if latest != nil {
		s.Latest = &latest.Ref
	}
	return s, nil
}

// LoadSecurityDatabases reads the security databases at locs (file paths,
// file:// or http(s) URLs: Wolfi's https://packages.wolfi.dev/os/security.json,
// Alpine's https://secdb.alpinelinux.org/v3.22/main.json) and merges them.
func LoadSecurityDatabases(ctx context.Context, locs []string, opts ...Option) (*secdb.DB, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	fo := []apk.FetcherOption{apk.WithLogger(o.logger), apk.WithMaxResponseSize(secdb.MaxSize)}
	if o.client != nil {
		fo = append(fo, apk.WithHTTPClient(o.client))
	}
	f, err := apk.NewFetcher(fo...)
	if err != nil {
		return nil, err
	}
	var dbs []*secdb.DB
	for _, loc := range locs {
		rc, err := f.Open(ctx, loc)
		if err != nil {
			return nil, fmt.Errorf("factory: security database: %w", err)
		}
		db, err := secdb.Read(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("factory: security database %s: %w", apk.Redact(loc), err)
		}
		dbs = append(dbs, db)
	}
	return secdb.Merge(dbs...), nil
}

// streamToken returns stream as a NATS subject token sequence: its
// slash-separated parts joined with dots, each part limited to letters,
// digits, '-' and '_' (others are hex-escaped as "=xx"), which is also a
// valid key-value bucket key.
func streamToken(stream string) string {
	parts := strings.Split(stream, "/")
	for i, p := range parts {
		var b strings.Builder
		for _, c := range []byte(p) {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
				b.WriteByte(c)
			default:
				fmt.Fprintf(&b, "=%02x", c)
			}
		}
		if b.Len() == 0 {
			b.WriteString("=")
		}
		parts[i] = b.String()
	}
	return strings.Join(slices.Clip(parts), ".")
}

// streamOf inverts [streamToken].
func streamOf(token string) string {
	parts := strings.Split(token, ".")
	for i, p := range parts {
		var b strings.Builder
		for j := 0; j < len(p); j++ {
			if p[j] == '=' {
				if j+2 < len(p) {
					if v, err := strconv.ParseUint(p[j+1:j+3], 16, 8); err == nil {
						b.WriteByte(byte(v))
						j += 2
						continue
					}
				}
				if len(p) == 1 {
					continue // the empty part
				}
			}
			b.WriteByte(p[j])
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, "/")
}
