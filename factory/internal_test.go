package factory

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestStreamToken(t *testing.T) {
	for _, s := range []string{"base/aws/x86_64/stable", "nginx/gcp/aarch64/lts/fips", "a.b/c d/*/>/=/", ""} {
		tok := streamToken(s)
		if strings.ContainsAny(tok, " *>") || strings.Contains(tok, "..") {
			t.Errorf("token %q of %q is not a NATS subject part", tok, s)
		}
		for _, c := range tok {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_=.", c)) {
				t.Errorf("token %q of %q is not a key-value key", tok, s)
			}
		}
		if got := streamOf(tok); got != s {
			t.Errorf("streamOf(streamToken(%q)) = %q (token %q)", s, got, tok)
		}
	}
}

func FuzzStreamToken(f *testing.F) {
	f.Add("base/aws/x86_64/stable")
	f.Add("=/=3d/")
	f.Fuzz(func(t *testing.T, s string) {
		if got := streamOf(streamToken(s)); got != s {
			t.Fatalf("round trip of %q gives %q", s, got)
		}
	})
}

func FuzzParseJob(f *testing.F) {
	f.Add([]byte(`{"stream":"base/aws/x86_64/stable","spec":{"variant":"base"},"lock":"sha256:00"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := parseJob(data)
		if err == nil && j.Validate() != nil {
			t.Fatalf("parseJob accepted an invalid job: %s", data)
		}
	})
}

// TestSharedFetches: one upstream request per URL however many callers;
// the index kept only when keep is called, then fetched conditionally; a
// kept copy whose bytes no longer match its digest is fetched whole.
func TestSharedFetches(t *testing.T) {
	var mu sync.Mutex
	var got []string // If-None-Match of each upstream request
	body := []byte("index bytes")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("If-None-Match"))
		mu.Unlock()
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Write(body)
	}))
	defer srv.Close()
	url := srv.URL + "/os/x86_64/APKINDEX.tar.gz"
	state := dirState{dir: t.TempDir()}
	check := func(keep bool) {
		t.Helper()
		sf := newSharedFetches(nil, state)
		c := &http.Client{Transport: sf}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("If-None-Match", `"from the caller's own cache"`)
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK || string(b) != string(body) {
					t.Errorf("caller got %d %q", resp.StatusCode, b)
				}
			})
		}
		wg.Wait()
		if n := sf.sent.Load(); n != 1 {
			t.Errorf("%d upstream requests for 8 callers, want 1", n)
		}
		if keep {
			if err := sf.keep(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := func(etags ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got, etags) {
			t.Errorf("upstream If-None-Match %q, want %q", got, etags)
		}
		got = nil
	}
	check(false) // a failed check keeps nothing
	want("")
	check(true)
	want("")
	check(true)
	want(`"v1"`)
	// The kept bytes changed on disk: not trusted, fetched whole.
	if err := os.WriteFile(filepath.Join(state.dir, stateName(url)+".index"), []byte("index bytez"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(true)
	want("")
}
