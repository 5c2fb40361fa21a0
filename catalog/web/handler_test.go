package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/web"
	"github.com/hardvm/hardvm/provenance"
)

// testCatalog is a published catalog and where its files are.
type testCatalog struct {
	store   catalog.Store
	files   web.Files
	entries map[string]catalog.Entry   // by "stream n"
	blob    func(digest string) string // the file holding a published disk, to damage it
}

// localCatalog publishes the fixture streams into a directory catalog,
// registering the disks with the local registrar: base/qemu/x86_64/stable
// builds 0, 1, 2; nginx/aws/x86_64/stable build 0; base+fips/aws/x86_64/lts
// build 0.
func localCatalog(t testing.TB, f *fixture) *testCatalog {
	t.Helper()
	dir := t.TempDir()
	store, err := local.Open(filepath.Join(dir, "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg, err := local.NewRegistrar(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCatalog{store: store, entries: map[string]catalog.Entry{}}
	publishFixtures(t, f, tc, reg)
	files, err := web.NewDirFiles(filepath.Join(dir, "images"), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	tc.files = files
	tc.blob = func(d string) string {
		return filepath.Join(dir, "images", "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
	}
	return tc
}

func publishFixtures(t testing.TB, f *fixture, tc *testCatalog, regs ...catalog.Registrar) {
	t.Helper()
	for _, b := range []struct {
		stream string
		n      int
	}{{"base/qemu/x86_64/stable", 0}, {"base/qemu/x86_64/stable", 1}, {"base/qemu/x86_64/stable", 2}, {"nginx/aws/x86_64/stable", 0}, {"base+fips/aws/x86_64/lts", 0}} {
		ps := basePackages(b.n)
		if strings.HasPrefix(b.stream, "nginx") {
			ps = append(ps, pkg{"nginx", "1.29.3-r0", "BSD-2-Clause"})
		}
		e := f.publish(t, tc.store, f.build(t, b.stream, b.n, ps...), regs...)
		tc.entries[b.stream+" "+string(rune('0'+b.n))] = e
	}
}

func newHandler(t testing.TB, f *fixture, tc *testCatalog, opts ...web.Option) *web.Handler {
	t.Helper()
	v, err := web.NewVerifier(nil, f.trusted)
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.New(tc.store, append([]web.Option{web.WithVerifier(v), web.WithFiles(tc.files), web.WithClock(fixedClock), web.WithRecheck(0),
		web.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// testWriter logs to the test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func get(t testing.TB, srv *httptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestPagesLocal(t *testing.T) {
	f := newFixture(t)
	tc := localCatalog(t, f)
	srv := httptest.NewServer(newHandler(t, f, tc))
	defer srv.Close()

	code, hdr, body := get(t, srv, "/")
	body = html.UnescapeString(body)
	if code != 200 || !strings.Contains(body, "base/qemu/x86_64/stable") || !strings.Contains(body, "base+fips/aws/x86_64/lts") {
		t.Fatalf("directory: %d\n%s", code, body)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
	code, _, body = get(t, srv, "/s/base/qemu/x86_64/stable")
	if code != 200 || !strings.Contains(body, "openssl") {
		t.Fatalf("stream: %d\n%s", code, body)
	}
	v1 := tc.entries["base/qemu/x86_64/stable 1"].Ref.Version.String()
	code, _, body = get(t, srv, "/v/base/qemu/x86_64/stable/"+v1)
	if code != 200 {
		t.Fatalf("version: %d\n%s", code, body)
	}
	for _, want := range []string{`class="badge verified"`, "3.5.0-r0", "3.5.1-r0", "pkg:apk/wolfi/openssl@3.5.1-r0"} {
		if !strings.Contains(body, want) {
			t.Errorf("version page lacks %q", want)
		}
	}
	if t.Failed() {
		os.WriteFile("/tmp/version.html", []byte(body), 0o644)
	}
	code, _, body = get(t, srv, "/api/versions/base/qemu/x86_64/stable/"+v1)
	var api struct {
		Verification struct {
			State string            `json:"state"`
			Rules []provenance.Rule `json:"rules"`
		} `json:"verification"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &api) != nil || api.Verification.State != "verified" {
		t.Errorf("api version: %d %s", code, body)
	}
	_ = context.Background
}

// httptestServer serves h on 127.0.0.1 until the test ends.
func httptestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
