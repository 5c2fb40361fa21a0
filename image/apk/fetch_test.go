package apk

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An HTTP server on 127.0.0.1 standing in for a repository; it records the
// requests it gets.
func TestFetcherHTTP(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if ua := r.UserAgent(); ua != "hardvm-test/1" {
			t.Errorf("User-Agent = %q", ua)
		}
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/flaky":
			if hits.Load()%2 == 1 {
				http.Error(w, "busy", http.StatusBadGateway)
				return
			}
			w.Write([]byte("ok"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f, err := NewFetcher(WithHTTPClient(srv.Client()), WithUserAgent("hardvm-test/1"), WithRetries(2, time.Millisecond), WithMaxResponseSize(1024))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	hits.Store(0)
	rc, err := f.Open(ctx, srv.URL+"/flaky")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "ok" || hits.Load() != 2 {
		t.Errorf("flaky: %q after %d requests, want ok after 2", b, hits.Load())
	}

	hits.Store(0)
	if _, err := f.Open(ctx, srv.URL+"/missing"); !errors.Is(err, ErrFetch) || hits.Load() != 1 {
		t.Errorf("404: err %v after %d requests, want ErrFetch after 1 (no retry)", err, hits.Load())
	}

	rc, err = f.Open(ctx, srv.URL+"/big")
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, ErrSize) {
		t.Errorf("oversized response: err = %v, want ErrSize", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := f.Open(cctx, srv.URL+"/slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled: err = %v, want context.DeadlineExceeded", err)
	}

	if _, err := f.Open(ctx, "ftp://example.org/x"); !errors.Is(err, ErrFetch) {
		t.Errorf("ftp: err = %v, want ErrFetch", err)
	}
}
