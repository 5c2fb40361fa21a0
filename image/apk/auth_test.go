package apk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testSecret = "s3cret-Pa55:with:colons"

func TestParseHTTPAuth(t *testing.T) {
	c, err := ParseHTTPAuth("basic:apk.cgr.dev:user:" + testSecret + ", basic:Packages.Example.com:u2:p2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ host, user, pass string }{
		{"apk.cgr.dev", "user", testSecret},
		{"packages.example.com", "u2", "p2"},
		{"PACKAGES.example.COM", "u2", "p2"},
	} {
		u, p, ok, err := c.Credentials(context.Background(), tt.host)
		if err != nil || !ok || u != tt.user || p != tt.pass {
			t.Errorf("%s: %q %q %v %v", tt.host, u, p, ok, err)
		}
	}
	if _, _, ok, _ := c.Credentials(context.Background(), "other.dev"); ok {
		t.Error("credentials for a host not named")
	}
	for _, bad := range []string{
		"basic:host:user",                // no password
		"bearer:host:user:" + testSecret, // not basic
		"basic::user:" + testSecret,      // no host
		"basic:host/path:u:" + testSecret,
		"basic:user@host:u:" + testSecret,
	} {
		_, err := ParseHTTPAuth(bad)
		if !errors.Is(err, ErrCredentials) {
			t.Errorf("%q: err = %v", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: error repeats the secret: %v", bad, err)
		}
	}
}

func TestParseNetrc(t *testing.T) {
	c, err := ParseNetrc(strings.NewReader(`# comment
machine repo.example.com login alice password ` + testSecret + `
macdef init
  machine evil.example.com login x password y

machine other.example.com
  login bob
  password hunter2
default login anon password guest
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ host, user, pass string }{
		{"repo.example.com", "alice", testSecret},
		{"other.example.com", "bob", "hunter2"},
		{"evil.example.com", "anon", "guest"}, // inside macdef: not an entry
		{"anything", "anon", "guest"},
	} {
		u, p, ok, err := c.Credentials(context.Background(), tt.host)
		if err != nil || !ok || u != tt.user || p != tt.pass {
			t.Errorf("%s: %q %q %v %v", tt.host, u, p, ok, err)
		}
	}
	if _, err := ParseNetrc(strings.NewReader("machine")); !errors.Is(err, ErrCredentials) {
		t.Errorf("truncated netrc: %v", err)
	}
}

func TestEnvCredentials(t *testing.T) {
	dir := t.TempDir()
	netrc := filepath.Join(dir, "netrc")
	if err := os.WriteFile(netrc, []byte("machine b.example login nb password pb\nmachine a.example login na password pa\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NETRC", netrc)
	t.Setenv("HTTP_AUTH", "basic:a.example:ha:pa2")
	c, err := EnvCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if u, _, _, _ := c.Credentials(context.Background(), "a.example"); u != "ha" {
		t.Errorf("HTTP_AUTH should win over netrc, got user %q", u)
	}
	if u, _, _, _ := c.Credentials(context.Background(), "b.example"); u != "nb" {
		t.Errorf("netrc: got user %q", u)
	}
	t.Setenv("HTTP_AUTH", "basic:broken")
	if _, err := EnvCredentials(); !errors.Is(err, ErrCredentials) {
		t.Errorf("bad HTTP_AUTH: %v", err)
	}
	t.Setenv("HTTP_AUTH", "")
	t.Setenv("NETRC", filepath.Join(dir, "absent"))
	c, err = EnvCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := c.Credentials(context.Background(), "a.example"); ok {
		t.Error("credentials without any source")
	}
}

// authServer is a repository on 127.0.0.1 that requires basic auth with
// user/testSecret, and records the Authorization headers it is sent.
type authServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newAuthServer(t *testing.T, tls bool, h http.HandlerFunc) *authServer {
	s := &authServer{}
	wrapped := func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		h(w, r)
	}
	if tls {
		s.Server = httptest.NewTLSServer(http.HandlerFunc(wrapped))
	} else {
		s.Server = httptest.NewServer(http.HandlerFunc(wrapped))
	}
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

func requireAuth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "user" || p != testSecret {
			w.Header().Set("WWW-Authenticate", `Basic realm="repo"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func TestFetcherCredentials(t *testing.T) {
	ctx := context.Background()
	srv := newAuthServer(t, false, requireAuth(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "index") }))
	host := "127.0.0.1"

	// Without credentials: 401, and the error says how to give them.
	f, err := NewFetcher(WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Open(ctx, srv.URL+"/x")
	if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "HTTP_AUTH=basic:127.0.0.1:USER:PASSWORD") {
		t.Fatalf("err = %v", err)
	}

	creds, err := ParseHTTPAuth("basic:" + host + ":user:" + testSecret)
	if err != nil {
		t.Fatal(err)
	}
	f, err = NewFetcher(WithCredentials(creds), WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.Open(ctx, srv.URL+"/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "index" {
		t.Fatalf("body %q", b)
	}

	// Credentials in the URL are refused, without repeating them.
	_, err = f.Open(ctx, strings.Replace(srv.URL, "http://", "http://user:"+testSecret+"@", 1)+"/x")
	if !errors.Is(err, ErrCredentialsInURL) || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "HTTP_AUTH") {
		t.Fatalf("user info: err = %v", err)
	}

	// A callback is asked on every request (tokens that expire); its
	// failure is an ErrCredentials error.
	var calls atomic.Int64
	f, _ = NewFetcher(WithRetries(0, 0), WithCredentials(CredentialsFunc(func(_ context.Context, h string) (string, string, bool, error) {
		calls.Add(1)
		if calls.Load() > 2 {
			return "", "", false, errors.New("token service down")
		}
		return "user", testSecret, h == host, nil
	})))
	for i := 0; i < 2; i++ {
		rc, err := f.Open(ctx, srv.URL+"/x")
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if _, err := f.Open(ctx, srv.URL+"/x"); !errors.Is(err, ErrCredentials) {
		t.Fatalf("failing callback: %v", err)
	}
}

// A redirect to another host, and a redirect from https to plain http on
// the same host, never carry the credentials.
func TestFetcherCredentialsRedirects(t *testing.T) {
	ctx := context.Background()
	other := newAuthServer(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "elsewhere") })
	// "localhost" is another host name than 127.0.0.1, on this machine.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	plain := newAuthServer(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })
	origin := newAuthServer(t, true, requireAuth(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cross":
			http.Redirect(w, r, otherURL+"/file", http.StatusFound)
		case "/downgrade":
			http.Redirect(w, r, plain.URL+"/file", http.StatusFound)
		case "/same":
			http.Redirect(w, r, "/file", http.StatusFound)
		default:
			io.WriteString(w, "origin")
		}
	}))
	creds, _ := ParseHTTPAuth("basic:127.0.0.1:user:" + testSecret)
	f, err := NewFetcher(WithHTTPClient(origin.Client()), WithCredentials(creds), WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/same", "/cross", "/downgrade"} {
		rc, err := f.Open(ctx, origin.URL+path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rc.Close()
	}
	if got := origin.seen(); len(got) != 4 || slicesContain(got, "") {
		t.Errorf("origin got %q, want credentials on all 4 requests", got)
	}
	for name, s := range map[string]*authServer{"other host": other, "plain http": plain} {
		got := s.seen()
		if len(got) != 1 || got[0] != "" {
			t.Errorf("%s got Authorization %q, want one request without", name, got)
		}
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestFetchIndexConditional: an unchanged repository costs one round trip
// answered 304; a changed one is fetched whole; a corrupt cached copy is
// refused and fetched whole next time.
func TestFetchIndexConditional(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(realData, "chainguard-signed-index", "APKINDEX.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	k := keyring(t, filepath.Join("chainguard-signed-index", "keys", "chainguard-0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0.rsa.pub"))
	var mu sync.Mutex
	content, useETag := data, true
	modTime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var full, notModified atomic.Int64
	srv := newAuthServer(t, false, requireAuth(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		c, etag := content, useETag
		mu.Unlock()
		sum := sha256.Sum256(c)
		tag := `"` + hex.EncodeToString(sum[:8]) + `"`
		if etag {
			w.Header().Set("ETag", tag)
			if r.Header.Get("If-None-Match") == tag {
				notModified.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
		} else {
			w.Header().Set("Last-Modified", modTime.Format(http.TimeFormat))
			if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !modTime.After(ims) {
				notModified.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		full.Add(1)
		w.Write(c)
	}))
	creds, _ := ParseHTTPAuth("basic:127.0.0.1:user:" + testSecret)
	cache := t.TempDir()
	f, err := NewFetcher(WithCacheDir(cache), WithCredentials(creds), WithRetries(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	fetch := func() string {
		t.Helper()
		idx, d, err := f.FetchIndex(ctx, srv.URL, "aarch64", k)
		if err != nil {
			t.Fatal(err)
		}
		if len(idx.Packages) != 16 {
			t.Fatalf("%d packages", len(idx.Packages))
		}
		return d.String()
	}
	want := fmt.Sprintf("sha256:%x", sha256.Sum256(data))
	if d := fetch(); d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}
	for i := 0; i < 3; i++ {
		if d := fetch(); d != want {
			t.Fatalf("cached digest %s, want %s", d, want)
		}
	}
	if full.Load() != 1 || notModified.Load() != 3 {
		t.Fatalf("full %d, not modified %d; want 1 and 3", full.Load(), notModified.Load())
	}

	// Last-Modified only.
	mu.Lock()
	useETag = false
	mu.Unlock()
	fetch()
	fetch()
	if full.Load() != 2 || notModified.Load() != 4 {
		t.Fatalf("Last-Modified: full %d, not modified %d; want 2 and 4", full.Load(), notModified.Load())
	}

	// A tampered cache entry fails verification: it is never returned,
	// and the index is fetched whole and cached again.
	entries, _ := filepath.Glob(filepath.Join(cache, "index", "*.tar.gz"))
	if len(entries) != 1 {
		t.Fatalf("cache holds %v", entries)
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)-40] ^= 0xff
	if err := os.WriteFile(entries[0], bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if d := fetch(); d != want || full.Load() != 3 {
		t.Fatalf("after tampering: digest %s, full fetches %d, want 3", d, full.Load())
	}
	if got, _ := os.ReadFile(entries[0]); string(got) != string(data) {
		t.Fatal("the tampered cached index was not replaced")
	}

	// Two builds refreshing one cache at once can leave one's validators
	// beside the other's index. Validators that describe another index are
	// not trusted on a 304: the index is fetched whole.
	metas, _ := filepath.Glob(filepath.Join(cache, "index", "*.json"))
	if len(metas) != 1 {
		t.Fatalf("cache holds %v", metas)
	}
	var m indexMeta
	if b, err := os.ReadFile(metas[0]); err != nil || json.Unmarshal(b, &m) != nil || m.Digest != want {
		t.Fatalf("cached metadata %+v (%v), want digest %s", m, err, want)
	}
	m.Digest = "sha256:" + strings.Repeat("0", 64) // the other build's index
	b, _ := json.Marshal(m)
	if err := os.WriteFile(metas[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	before := notModified.Load()
	if d := fetch(); d != want || full.Load() != 4 {
		t.Fatalf("validators of another index: digest %s, full fetches %d, want 4", d, full.Load())
	}
	if notModified.Load() != before+1 {
		t.Fatalf("the conditional request was not sent first")
	}
	if fetch(); full.Load() != 4 {
		t.Fatalf("the refreshed metadata did not make the next fetch conditional")
	}

	// A bad index from the server is never cached.
	mu.Lock()
	content, useETag = bad, true
	mu.Unlock()
	if _, _, err := f.FetchIndex(ctx, srv.URL, "aarch64", k); err == nil {
		t.Fatal("a tampered index verified")
	}
	got, _ := os.ReadFile(entries[0])
	if string(got) != string(data) {
		t.Fatal("the tampered index replaced the cached one")
	}
	for _, a := range srv.seen() {
		if a == "" {
			t.Fatal("a request went without credentials")
		}
	}
}
