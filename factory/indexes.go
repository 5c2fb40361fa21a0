package factory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opencontainers/go-digest"
)

// MaxIndexSize bounds one repository index (or key) a staleness check
// fetches.
const MaxIndexSize = 256 << 20

// IndexBucket is the JetStream object store bucket of the indexes a
// [Factory] checked last, beside their validators in [Bucket].
const IndexBucket = "hardvm-indexes"

// indexValidators is what is kept of an index between checks: the
// validators it was served with and the digest of its bytes.
type indexValidators struct {
	URL          string        `json:"url"`
	ETag         string        `json:"etag,omitempty"`
	LastModified string        `json:"last_modified,omitempty"`
	Digest       digest.Digest `json:"digest"`
	Size         int64         `json:"size"`
}

// indexState keeps each index with its validators from one check to the
// next, so that a check sends one conditional request per index.
type indexState interface {
	// load returns the validators and bytes of url, ok false when it
	// has no intact copy.
	load(ctx context.Context, url string) (v indexValidators, body []byte, ok bool)
	// save keeps body with its validators, replacing url's copy.
	save(ctx context.Context, v indexValidators, body []byte) error
}

// stateName is the key of url in a state: 32 hex digits of its SHA-256.
func stateName(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:16])
}

// intact reports whether body is what v describes.
func (v indexValidators) intact(url string, body []byte) bool {
	return v.URL == url && int64(len(body)) == v.Size && v.Digest == digest.FromBytes(body) && (v.ETag != "" || v.LastModified != "")
}

// dirState keeps indexes in a directory: NAME.json (validators) beside
// NAME.index (bytes), written atomically, the bytes first.
type dirState struct{ dir string }

func (s dirState) load(_ context.Context, url string) (indexValidators, []byte, bool) {
	base := filepath.Join(s.dir, stateName(url))
	var v indexValidators
	b, err := readBounded(base+".json", 64<<10)
	if err != nil || json.Unmarshal(b, &v) != nil {
		return v, nil, false
	}
	body, err := readBounded(base+".index", MaxIndexSize)
	if err != nil || !v.intact(url, body) {
		return v, nil, false
	}
	return v, body, true
}

func (s dirState) save(_ context.Context, v indexValidators, body []byte) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(s.dir, stateName(v.URL))
	if err := atomicfile.WriteFile(base+".index", 0o644, func(w io.Writer) error { _, err := w.Write(body); return err }); err != nil {
		return err
	}
	return atomicfile.WriteFile(base+".json", 0o644, func(w io.Writer) error { return json.NewEncoder(w).Encode(v) })
}

// readBounded reads the file at path, failing beyond max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: over %d bytes", path, max)
	}
	return b, err
}

// jsState keeps indexes in JetStream, shared by every factory of a
// cluster: the validators in the factory's bucket (key index.NAME), the
// bytes in the object store IndexBucket (object NAME). So the scheduler
// lease can move to another machine without a full fetch.
type jsState struct {
	kv  jetstream.KeyValue
	obs jetstream.ObjectStore
}

func (s jsState) load(ctx context.Context, url string) (indexValidators, []byte, bool) {
	var v indexValidators
	name := stateName(url)
	e, err := s.kv.Get(ctx, "index."+name)
	if err != nil || json.Unmarshal(e.Value(), &v) != nil || v.Size > MaxIndexSize {
		return v, nil, false
	}
	info, err := s.obs.GetInfo(ctx, name)
	if err != nil || info.Size != uint64(v.Size) {
		return v, nil, false
	}
	body, err := s.obs.GetBytes(ctx, name)
	if err != nil || !v.intact(url, body) {
		return v, nil, false
	}
	return v, body, true
}

func (s jsState) save(ctx context.Context, v indexValidators, body []byte) error {
	name := stateName(v.URL)
	if _, err := s.obs.PutBytes(ctx, name, body); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrQueue, IndexBucket, err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, "index."+name, data); err != nil {
		return fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return nil
}

// sharedFetches is the HTTP transport of one staleness check: every
// stream's resolution asks for the same indexes, and each URL is fetched
// once per check; repository indexes (APKINDEX.tar.gz) with the
// validators of the copy the state keeps (If-None-Match,
// If-Modified-Since), so that an unchanged repository costs one 304 per
// (repository, arch) and check. Every stream gets the bytes whole (200)
// and verifies them itself; the indexes fetched are kept in the state
// only after a check in which every resolution succeeded, so nothing
// unverified is kept.
type sharedFetches struct {
	base  http.RoundTripper
	state indexState // nil: nothing kept between checks

	mu    sync.Mutex
	calls map[string]*fetchCall
	sent  atomic.Int64 // requests sent upstream
}

// fetchCall is one URL's fetch in a check.
type fetchCall struct {
	done   chan struct{}
	status int
	header http.Header
	body   []byte
	err    error
	keep   *indexValidators // a fresh index to keep after the check
}

func newSharedFetches(base http.RoundTripper, state indexState) *sharedFetches {
	if base == nil {
		base = http.DefaultTransport
	}
	return &sharedFetches{base: base, state: state, calls: map[string]*fetchCall{}}
}

// RoundTrip implements http.RoundTripper.
func (s *sharedFetches) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return s.base.RoundTrip(req)
	}
	key := req.URL.String()
	s.mu.Lock()
	c, ok := s.calls[key]
	if !ok {
		c = &fetchCall{done: make(chan struct{})}
		s.calls[key] = c
	}
	s.mu.Unlock()
	if !ok {
		s.fetch(req, c)
		close(c.done)
		if c.err != nil || c.status != http.StatusOK {
			s.mu.Lock()
			delete(s.calls, key) // a later attempt (a retry) asks again
			s.mu.Unlock()
		}
	} else {
		select {
		case <-c.done:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	if c.err != nil {
		return nil, c.err
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", c.status, http.StatusText(c.status)), StatusCode: c.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: c.header.Clone(),
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
	}, nil
}

// isIndex reports whether url is a repository index.
func isIndex(url string) bool { return strings.HasSuffix(url, "/APKINDEX.tar.gz") }

func (s *sharedFetches) fetch(req *http.Request, c *fetchCall) {
	url := req.URL.String()
	up := req.Clone(req.Context())
	up.Header.Del("If-None-Match") // the caller's cache is not this check's
	up.Header.Del("If-Modified-Since")
	var kept []byte
	if s.state != nil && isIndex(url) {
		if v, body, ok := s.state.load(req.Context(), url); ok {
			kept = body
			if v.ETag != "" {
				up.Header.Set("If-None-Match", v.ETag)
			}
			if v.LastModified != "" {
				up.Header.Set("If-Modified-Since", v.LastModified)
			}
		}
	}
	s.sent.Add(1)
	resp, err := s.base.RoundTrip(up)
	if err != nil {
		c.err = err
		return
	}
	defer resp.Body.Close()
	c.status, c.header = resp.StatusCode, resp.Header.Clone()
	switch {
	case resp.StatusCode == http.StatusNotModified && kept != nil:
		c.status, c.body = http.StatusOK, kept
		c.header.Del("Content-Length")
	case resp.StatusCode == http.StatusOK:
		c.body, c.err = io.ReadAll(io.LimitReader(resp.Body, MaxIndexSize+1))
		if c.err == nil && len(c.body) > MaxIndexSize {
			c.err = fmt.Errorf("factory: %s: over %d bytes", url, MaxIndexSize)
		}
		et, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if c.err == nil && s.state != nil && isIndex(url) && (et != "" || lm != "") {
			c.keep = &indexValidators{URL: url, ETag: et, LastModified: lm, Digest: digest.FromBytes(c.body), Size: int64(len(c.body))}
		}
	default: // an error the caller reports; its body bounded
		c.body, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	}
}

// keep saves the indexes fetched whole in this check to the state. Call
// it only after every resolution of the check succeeded (verified them).
func (s *sharedFetches) keep(ctx context.Context) error {
	if s.state == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, c := range s.calls {
		if c.keep != nil {
			errs = append(errs, s.state.save(ctx, *c.keep, c.body))
		}
	}
	return errors.Join(errs...)
}
