package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/web"
)

var (
	fuzzOnce sync.Once
	fuzzH    *web.Handler
)

// FuzzHandler sends arbitrary paths and queries: the handler never panics,
// never fails with a server error, and never echoes markup it was sent.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"/", "/?variant=base&package=<zzfuzz>", "/s/base/qemu/x86_64/stable?page=-1", "/s/base/qemu/x86_64/stable?page=99999999999999999999",
		"/v/base/qemu/x86_64/stable/20261123.010000.0?sort=<zzfuzz>&order=desc", "/v/base/qemu/x86_64/stable/20261123.010000.0/files/sbom",
		"/v/base/qemu/x86_64/stable/99999999.999999.9", "/api/streams?package=a&version=<zzfuzz>", "/api/versions/base%2Bfips/qemu/x86_64/stable/x",
		"/s/%3Czzfuzz%3E/qemu/x86_64/stable", "/static/style.css", "/api/streams/base/qemu/x86_64/stable?page=2"} {
		f.Add(s)
	}
	fuzzOnce.Do(func() {
		store := catalogtest.NewMemStore()
		for n := range 3 {
			store.Put(context.Background(), catalogtest.NewEntry("base/qemu/x86_64/stable", n, 3))
		}
		var err error
		if fuzzH, err = web.New(store, web.WithPageSize(2)); err != nil {
			panic(err)
		}
	})
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		req := &http.Request{Method: http.MethodGet, URL: u, RequestURI: target, Header: http.Header{}, Host: "example.test"}
		w := httptest.NewRecorder()
		fuzzH.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s: %d %s", target, w.Code, w.Body.String())
		}
		if strings.Contains(w.Body.String(), "<zzfuzz") {
			t.Fatalf("%s: the response echoes markup", target)
		}
	})
}
