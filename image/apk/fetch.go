package apk

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/opencontainers/go-digest"
)

// Fetcher reads repository files from file:// paths, plain directories and
// http(s) URLs, through a shared on-disk cache keyed by checksum. It is
// safe for concurrent use, by several goroutines and several processes
// sharing a cache directory (writes are atomic renames).
type Fetcher struct {
	client    *http.Client
	cacheDir  string // "" disables the cache
	log       *slog.Logger
	userAgent string
	maxSize   int64
	retries   int
	backoff   time.Duration
}

// FetcherOption configures a Fetcher.
type FetcherOption func(*Fetcher) error

// WithHTTPClient sets the HTTP client (default: 60 s timeout for headers,
// no overall timeout so large packages can stream; contexts cancel).
func WithHTTPClient(c *http.Client) FetcherOption {
	return func(f *Fetcher) error {
		if c == nil {
			return errors.New("apk: nil HTTP client")
		}
		f.client = c
		return nil
	}
}

// WithCacheDir caches packages under dir, keyed by their checksum.
func WithCacheDir(dir string) FetcherOption {
	return func(f *Fetcher) error { f.cacheDir = dir; return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) FetcherOption {
	return func(f *Fetcher) error {
		if l == nil {
			return errors.New("apk: nil logger")
		}
		f.log = l
		return nil
	}
}

// WithUserAgent sets the User-Agent of HTTP requests.
func WithUserAgent(ua string) FetcherOption {
	return func(f *Fetcher) error { f.userAgent = ua; return nil }
}

// WithRetries sets how many times a failed HTTP request is retried (default
// 3) and the first backoff, doubled on each retry (default 500 ms).
func WithRetries(n int, backoff time.Duration) FetcherOption {
	return func(f *Fetcher) error {
		if n < 0 || backoff < 0 {
			return errors.New("apk: negative retries or backoff")
		}
		f.retries, f.backoff = n, backoff
		return nil
	}
}

// WithMaxResponseSize bounds one fetched file (default 4 GiB).
func WithMaxResponseSize(n int64) FetcherOption {
	return func(f *Fetcher) error {
		if n <= 0 {
			return errors.New("apk: max response size must be positive")
		}
		f.maxSize = n
		return nil
	}
}

// NewFetcher returns a Fetcher.
func NewFetcher(opts ...FetcherOption) (*Fetcher, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 60 * time.Second
	f := &Fetcher{
		client:    &http.Client{Transport: tr},
		log:       slog.New(slog.DiscardHandler),
		userAgent: "hardvm-apk/1",
		maxSize:   4 << 30,
		retries:   3,
		backoff:   500 * time.Millisecond,
	}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// RepoFile returns the location of file in repository repo for arch:
// repo/arch/file, for URLs and paths alike.
func RepoFile(repo, arch, file string) string {
	return strings.TrimSuffix(repo, "/") + "/" + arch + "/" + file
}

// localPath returns the file path of a file:// URL or plain path, or "".
func localPath(loc string) string {
	if strings.HasPrefix(loc, "file://") {
		u, err := url.Parse(loc)
		if err != nil {
			return strings.TrimPrefix(loc, "file://")
		}
		return u.Path
	}
	if strings.Contains(loc, "://") {
		return ""
	}
	return loc
}

// Open returns the content of loc (a file:// URL, a path or an http(s)
// URL), uncached, bounded by the maximum response size.
func (f *Fetcher) Open(ctx context.Context, loc string) (io.ReadCloser, error) {
	if p := localPath(loc); p != "" {
		fh, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFetch, err)
		}
		return fh, nil
	}
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: %q is not a file path or an http(s) URL", ErrFetch, loc)
	}
	var last error
	for attempt := 0; attempt <= f.retries; attempt++ {
		if attempt > 0 {
			d := f.backoff << (attempt - 1)
			f.log.Debug("apk: retrying", "url", loc, "attempt", attempt, "after", d, "err", last)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(d):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFetch, err)
		}
		req.Header.Set("User-Agent", f.userAgent)
		resp, err := f.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = err
			continue
		}
		if resp.StatusCode == http.StatusOK {
			if resp.ContentLength > f.maxSize {
				resp.Body.Close()
				return nil, fmt.Errorf("%w: %s is %d bytes (limit %d)", ErrSize, loc, resp.ContentLength, f.maxSize)
			}
			return &limitedBody{r: io.LimitReader(resp.Body, f.maxSize+1), c: resp.Body, max: f.maxSize, what: loc}, nil
		}
		resp.Body.Close()
		last = fmt.Errorf("%s: HTTP %s", loc, resp.Status)
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			break // client errors do not get better
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrFetch, last)
}

type limitedBody struct {
	r    io.Reader
	c    io.Closer
	n    int64
	max  int64
	what string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n, fmt.Errorf("%w: %s is larger than %d bytes", ErrSize, b.what, b.max)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.c.Close() }

// FetchIndex fetches and verifies repo/arch/APKINDEX.tar.gz and returns
// the index with the sha256:<hex> digest of the file.
func (f *Fetcher) FetchIndex(ctx context.Context, repo, arch string, k *Keyring, opts ...IndexOption) (*Index, digest.Digest, error) {
	loc := RepoFile(repo, arch, "APKINDEX.tar.gz")
	rc, err := f.Open(ctx, loc)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	h := sha256.New()
	idx, err := ReadIndex(io.TeeReader(rc, h), k, loc, opts...)
	if err != nil {
		return nil, "", err
	}
	f.log.Info("apk: index verified", "url", loc, "packages", len(idx.Packages), "signer", idx.Signer)
	return idx, digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), nil
}

// CachePath returns where the cache keeps the package with the given C:
// checksum, or "" without a cache.
func (f *Fetcher) CachePath(checksum string) string {
	if f.cacheDir == "" || len(checksum) < 3 {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(checksum[2:])
	if err != nil {
		return ""
	}
	return filepath.Join(f.cacheDir, "apk", strings.ToLower(checksum[:2])+"-"+hex.EncodeToString(raw)+".apk")
}

// FetchPackage returns a reader of package p of repository repo: from the
// cache if it holds the checksum, else from the repository (a local
// repository is read in place; a remote one is copied into the cache
// first, atomically). Callers verify what they read with ReadPackage and
// WithExpected, so a corrupt cache entry is caught on every read; they
// should then call Evict.
func (f *Fetcher) FetchPackage(ctx context.Context, repo, arch string, p *Package) (io.ReadCloser, error) {
	loc := RepoFile(repo, arch, p.Filename())
	if lp := localPath(loc); lp != "" {
		return f.Open(ctx, loc)
	}
	cp := f.CachePath(p.Checksum)
	if cp != "" {
		if fh, err := os.Open(cp); err == nil {
			f.log.Debug("apk: cache hit", "package", p.String(), "path", cp)
			return fh, nil
		}
	}
	rc, err := f.Open(ctx, loc)
	if err != nil || cp == "" {
		return rc, err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(cp), 0o755); err != nil {
		return nil, fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	af, err := atomicfile.Create(cp, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	defer af.Close()
	n, err := io.Copy(af, rc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFetch, loc, err)
	}
	if p.Size > 0 && n != p.Size {
		return nil, fmt.Errorf("%w: %s is %d bytes, the index says %d", ErrSize, loc, n, p.Size)
	}
	if err := af.Commit(); err != nil {
		return nil, fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	f.log.Debug("apk: fetched", "package", p.String(), "bytes", n)
	fh, err := os.Open(cp)
	if err != nil {
		return nil, fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	return fh, nil
}

// Evict removes a cached package that failed verification.
func (f *Fetcher) Evict(checksum string) {
	if cp := f.CachePath(checksum); cp != "" {
		os.Remove(cp)
	}
}

// FetchKey returns the PEM of a key named by a path or URL.
func (f *Fetcher) FetchKey(ctx context.Context, loc string) ([]byte, error) {
	rc, err := f.Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %v", ErrFetch, loc, err)
	}
	return b, nil
}
