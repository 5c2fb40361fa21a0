package apk

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
	creds     Credentials
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
	if f.cacheDir != "" {
		// Half-written cache files of a process that was killed are
		// taken back; a live one's, held under a lock, are left alone.
		for _, sub := range []string{"apk", "index"} {
			removed, err := atomicfile.Reclaim(filepath.Join(f.cacheDir, sub))
			if err != nil {
				return nil, fmt.Errorf("%w: cache: %w", ErrFetch, err)
			}
			if len(removed) > 0 {
				f.log.Info("apk: removed half-written cache files of a dead process", "dir", filepath.Join(f.cacheDir, sub), "files", len(removed))
			}
		}
	}
	if f.creds != nil {
		c := *f.client
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = &authTransport{base: base, creds: f.creds}
		f.client = &c
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
// URL), uncached, bounded by the maximum response size. A URL with user
// information is refused ([ErrCredentialsInURL]).
func (f *Fetcher) Open(ctx context.Context, loc string) (io.ReadCloser, error) {
	if p := localPath(loc); p != "" {
		fh, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFetch, err)
		}
		return fh, nil
	}
	resp, err := f.get(ctx, loc, nil)
	if err != nil {
		return nil, err
	}
	return f.body(resp, loc)
}

func (f *Fetcher) body(resp *http.Response, loc string) (io.ReadCloser, error) {
	if resp.ContentLength > f.maxSize {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s is %d bytes (limit %d)", ErrSize, loc, resp.ContentLength, f.maxSize)
	}
	return &limitedBody{r: io.LimitReader(resp.Body, f.maxSize+1), c: resp.Body, max: f.maxSize, what: loc}, nil
}

// get sends GET loc with the extra headers, retrying server errors, and
// returns a response with status 200 or 304.
func (f *Fetcher) get(ctx context.Context, loc string, hdr http.Header) (*http.Response, error) {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: %q is not a file path or an http(s) URL", ErrFetch, Redact(loc))
	}
	if err := checkURL(u); err != nil {
		return nil, err
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
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", f.userAgent)
		resp, err := f.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, ErrCredentials) {
				return nil, err
			}
			last = err
			continue
		}
		if resp.StatusCode == http.StatusOK || (resp.StatusCode == http.StatusNotModified && hdr != nil) {
			return resp, nil
		}
		resp.Body.Close()
		last = fmt.Errorf("%s: HTTP %s", loc, resp.Status)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			last = fmt.Errorf("%s: HTTP %s (give credentials for %s with HTTP_AUTH=basic:%s:USER:PASSWORD, a netrc file, or WithCredentials)", loc, resp.Status, u.Hostname(), u.Hostname())
		}
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
// the index with the sha256:<hex> digest of the file. With a cache
// directory, an http(s) index is kept there with its ETag and
// Last-Modified, and fetched again with If-None-Match and
// If-Modified-Since: an unchanged repository costs one round trip and a
// 304. The cached copy is verified again on every use, like a fresh one,
// and only an index that verified is cached.
func (f *Fetcher) FetchIndex(ctx context.Context, repo, arch string, k *Keyring, opts ...IndexOption) (*Index, digest.Digest, error) {
	loc := RepoFile(repo, arch, "APKINDEX.tar.gz")
	if localPath(loc) != "" || f.cacheDir == "" {
		rc, err := f.Open(ctx, loc)
		if err != nil {
			return nil, "", err
		}
		defer rc.Close()
		return f.readIndex(rc, loc, k, opts)
	}
	return f.fetchIndexCached(ctx, loc, k, opts)
}

func (f *Fetcher) readIndex(r io.Reader, loc string, k *Keyring, opts []IndexOption) (*Index, digest.Digest, error) {
	idx, sum, err := readIndex(r, k, loc, opts...)
	if err != nil {
		return nil, "", err
	}
	f.log.Info("apk: index verified", "url", loc, "packages", len(idx.Packages), "signer", idx.Signer)
	return idx, digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum)), nil
}

// indexMeta is what the cache keeps beside an index for conditional
// requests. Digest names the index file the validators describe: builds
// sharing a cache write the index and then its metadata, so two of them
// refreshing at once can leave one's metadata beside the other's index,
// and a 304 would then vouch for an index the server never sent with
// those validators. A cached index is used on a 304 only when it still
// hashes to Digest.
type indexMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Digest       string `json:"digest,omitempty"`
}

func (f *Fetcher) fetchIndexCached(ctx context.Context, loc string, k *Keyring, opts []IndexOption) (*Index, digest.Digest, error) {
	sum := sha256.Sum256([]byte(loc))
	base := filepath.Join(f.cacheDir, "index", hex.EncodeToString(sum[:16]))
	dataPath, metaPath := base+".tar.gz", base+".json"
	var meta indexMeta
	hdr := http.Header{}
	if b, err := os.ReadFile(metaPath); err == nil && len(b) < 64<<10 && json.Unmarshal(b, &meta) == nil && meta.URL == loc && meta.Digest != "" {
		if meta.ETag != "" {
			hdr.Set("If-None-Match", meta.ETag)
		}
		if meta.LastModified != "" {
			hdr.Set("If-Modified-Since", meta.LastModified)
		}
	}
	if len(hdr) > 0 {
		resp, err := f.get(ctx, loc, hdr)
		if err != nil {
			return nil, "", err
		}
		if resp.StatusCode != http.StatusNotModified {
			defer resp.Body.Close()
			return f.storeIndex(resp, loc, dataPath, metaPath, k, opts)
		}
		resp.Body.Close()
		if idx, d, ok := f.cachedIndex(dataPath, meta.Digest, loc, k, opts); ok {
			return idx, d, nil
		}
		// Not the index the validators describe: fetch it whole rather
		// than trust the 304.
	}
	resp, err := f.get(ctx, loc, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	return f.storeIndex(resp, loc, dataPath, metaPath, k, opts)
}

// cachedIndex reads and verifies the cached index at dataPath, like a
// fresh one, and returns it if it is the one with digest want. ok is false
// when the file is missing, fails verification (it is then fetched whole
// and replaced) or is another index.
func (f *Fetcher) cachedIndex(dataPath, want, loc string, k *Keyring, opts []IndexOption) (idx *Index, d digest.Digest, ok bool) {
	fh, err := os.Open(dataPath)
	if err != nil {
		return nil, "", false
	}
	defer fh.Close()
	idx, d, err = f.readIndex(fh, loc, k, opts)
	if err != nil {
		f.log.Warn("apk: cached index refused, fetching it whole", "url", loc, "err", err)
		return nil, "", false
	}
	if d.String() != want {
		f.log.Debug("apk: cached index does not match its validators, fetching it whole", "url", loc)
		return nil, "", false
	}
	f.log.Debug("apk: index not modified", "url", loc)
	return idx, d, true
}

// storeIndex verifies the index in resp's body and caches it with the
// validators it came with.
func (f *Fetcher) storeIndex(resp *http.Response, loc, dataPath, metaPath string, k *Keyring, opts []IndexOption) (*Index, digest.Digest, error) {
	body, err := f.body(resp, loc)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(filepath.Dir(dataPath), 0o755); err != nil {
		return nil, "", fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	af, err := atomicfile.Create(dataPath, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	defer af.Close()
	if _, err := io.Copy(af, body); err != nil {
		return nil, "", fmt.Errorf("%w: %s: %w", ErrFetch, loc, err)
	}
	if _, err := af.Seek(0, io.SeekStart); err != nil {
		return nil, "", fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	idx, d, err := f.readIndex(af, loc, k, opts)
	if err != nil {
		return nil, "", err
	}
	// The index first, then what it was fetched with: after a crash in
	// between, or another build's metadata landing beside this index, the
	// digest no longer matches and the next run fetches it whole.
	if err := af.Commit(); err != nil {
		return nil, "", fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	m := indexMeta{URL: loc, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), Digest: d.String()}
	err = atomicfile.WriteFile(metaPath, 0o644, func(w io.Writer) error { return json.NewEncoder(w).Encode(m) })
	if err != nil {
		return nil, "", fmt.Errorf("%w: cache: %v", ErrFetch, err)
	}
	return idx, d, nil
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
	// The index's S: bounds the download: it stops at the first byte past.
	src := io.Reader(rc)
	if p.Size > 0 {
		src = io.LimitReader(rc, p.Size+1)
	}
	n, err := io.Copy(af, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, loc, err)
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
