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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/web"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

// testCatalog is a published catalog and where its files are.
type testCatalog struct {
	store   catalog.Store
	files   web.Files
	entries map[string]catalog.Entry     // by "stream n"
	blob    func(d digest.Digest) string // the file holding a published disk, to damage it
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
	tc.blob = func(d digest.Digest) string {
		return filepath.Join(dir, "images", "blobs", "sha256", d.Encoded())
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

func get(t testing.TB, srv string, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(srv + path)
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
	srv := httptestServer(t, newHandler(t, f, tc))

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

// Downloads are the recorded bytes; a damaged file is cut short, never
// delivered whole.
func TestDownload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tc := localCatalog(t, f)
	srv := httptestServer(t, newHandler(t, f, tc))
	e := tc.entries["base/qemu/x86_64/stable 1"]
	base := srv + "/v/base/qemu/x86_64/stable/" + e.Ref.Version.String() + "/files/"
	check := func(file string, want digest.Digest, size int64, mediaType string) {
		t.Helper()
		resp, err := http.Get(base + file)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", file, resp.StatusCode, err)
		}
		if got := catalogtest.Digest(string(b)); got != want || int64(len(b)) != size {
			t.Errorf("%s: %d bytes %s, want %d bytes %s", file, len(b), got, size, want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != mediaType {
			t.Errorf("%s: Content-Type %q, want %q", file, ct, mediaType)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
			t.Errorf("%s: Content-Disposition %q", file, cd)
		}
	}
	raw, _ := e.Artifact(vm.FormatRaw)
	check("disk.raw", raw.Digest, raw.Size, "application/octet-stream")
	for _, k := range []catalog.AttachmentKind{catalog.SBOM, catalog.Bundle, catalog.SBOMBundle} {
		a, _ := e.Attachment(k)
		check(string(k), a.Digest, a.Size, a.MediaType)
	}
	// HEAD: headers, no body.
	resp, err := http.Head(base + "disk.raw")
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != raw.Size {
		t.Errorf("HEAD disk.raw: %v %d", err, resp.ContentLength)
	}

	// The disk is smaller than the chunk held back, so not even the
	// headers are sent: the connection closes.
	flipByte(t, tc.blob(raw.Digest), raw.Size-1)
	resp, err = http.Get(base + "disk.raw")
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil || int64(len(b)) >= raw.Size {
			t.Errorf("a damaged disk was delivered: %d of %d bytes, %v", len(b), raw.Size, rerr)
		}
	}
}

// The states a verification can end in, each for its reason.
func TestVerificationStates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tc := localCatalog(t, f)
	e := tc.entries["base/qemu/x86_64/stable 1"]
	path := "/v/base/qemu/x86_64/stable/" + e.Ref.Version.String()
	other := newFixture(t)
	fipsPolicy, err := provenance.NewPolicy(provenance.RequireFIPS())
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(p *provenance.Policy, tm *provenance.TrustedMaterial) web.Option {
		v, err := web.NewVerifier(p, tm)
		if err != nil {
			t.Fatal(err)
		}
		return web.WithVerifier(v)
	}
	empty, err := web.NewDirFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	for _, c := range []struct {
		name  string
		opts  []web.Option
		state string
		rule  string // a rule that must have failed ("" for none)
	}{
		{"verified", nil, "verified", ""},
		{"another key", []web.Option{verifier(nil, other.trusted)}, "failed", "signature"},
		{"FIPS required", []web.Option{verifier(fipsPolicy, f.trusted)}, "failed", "attestation:fips"},
		{"no files", []web.Option{web.WithFiles(empty)}, "incomplete", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptestServer(t, newHandler(t, f, tc, c.opts...))
			code, _, body := get(t, srv, "/api"+strings.Replace(path, "/v/", "/versions/", 1))
			var got struct {
				Verification web.Verification `json:"verification"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
				t.Fatalf("%d %v: %s", code, err, body)
			}
			if string(got.Verification.State) != c.state {
				t.Errorf("state %s, want %s; failed %v", got.Verification.State, c.state, got.Verification.Failed())
			}
			if c.rule != "" && !slices.ContainsFunc(got.Verification.Rules, func(r provenance.Rule) bool { return r.Name == c.rule && r.Outcome == provenance.Fail }) {
				t.Errorf("no failed %s rule: %v", c.rule, got.Verification.Rules)
			}
			_, _, page := get(t, srv, path)
			if !strings.Contains(page, `class="badge `+c.state+`"`) {
				t.Errorf("page badge is not %s", c.state)
			}
		})
	}
	// Without a verifier the server claims nothing.
	h, err := web.New(tc.store, web.WithFiles(tc.files))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, h)
	if _, _, page := get(t, srv, path); !strings.Contains(page, `class="badge unchecked"`) || strings.Contains(page, `badge verified`) {
		t.Error("without a verifier the page shows a verification")
	}
}

// A catalog whose record differs from what was signed (here: a package
// version edited after signing, published without verification) fails,
// and says which package.
func TestCatalogRecordMustMatchSigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rel := f.build(t, "base/gcp/x86_64/stable", 0, basePackages(1)...)
	for i, p := range rel.Entry.Packages {
		if p.Name == "openssl" {
			rel.Entry.Packages[i].Version = "3.6.0-r0"
		}
	}
	e, err := catalog.Publish(context.Background(), store, rel, catalog.PublishUnverifiedUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	files, err := web.NewDirFiles(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	tc := &testCatalog{store: store, files: files}
	srv := httptestServer(t, newHandler(t, f, tc))
	_, _, body := get(t, srv, "/api/versions/base/gcp/x86_64/stable/"+e.Ref.Version.String())
	var got struct {
		Verification web.Verification `json:"verification"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	failed := got.Verification.Failed()
	if got.Verification.State != web.Failed || len(failed) != 1 || failed[0].Name != "packages" || !strings.Contains(failed[0].Error, "openssl is 3.6.0-r0, signed 3.5.1-r0") {
		t.Errorf("state %s, failed %v", got.Verification.State, failed)
	}
}

// Filters, package search, pages and deprecation, through the JSON API.
func TestDirectoryFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tc := localCatalog(t, f)
	v0, v1 := tc.entries["base/qemu/x86_64/stable 0"], tc.entries["base/qemu/x86_64/stable 1"]
	repl := v1.Ref
	if _, err := catalog.Deprecate(context.Background(), tc.store, v0.Ref, catalog.Deprecation{Time: v1.Published, Replacement: &repl, Reason: "CVE-2026-0001"}); err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, newHandler(t, f, tc, web.WithPageSize(2)))
	streams := func(q string) []web.StreamJSON {
		t.Helper()
		code, _, body := get(t, srv, "/api/streams"+q)
		var out []web.StreamJSON
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		return out
	}
	names := func(ss []web.StreamJSON) string {
		var n []string
		for _, s := range ss {
			n = append(n, s.Stream)
		}
		return strings.Join(n, " ")
	}
	for q, want := range map[string]string{
		"":                                  "base+fips/aws/x86_64/lts base/qemu/x86_64/stable nginx/aws/x86_64/stable",
		"?variant=base":                     "base+fips/aws/x86_64/lts base/qemu/x86_64/stable",
		"?family=application":               "nginx/aws/x86_64/stable",
		"?fips=yes":                         "base+fips/aws/x86_64/lts",
		"?platform=aws&track=stable":        "nginx/aws/x86_64/stable",
		"?arch=aarch64":                     "",
		"?package=nginx":                    "nginx/aws/x86_64/stable",
		"?package=openssl&version=3.5.1":    "base/qemu/x86_64/stable",
		"?package=openssl&version=3.5.0-r0": "base+fips/aws/x86_64/lts base/qemu/x86_64/stable nginx/aws/x86_64/stable",
		"?package=openssl&version=3.5":      "",
		"?package=nosuch":                   "",
	} {
		if got := names(streams(q)); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	s := streams("?package=openssl&version=3.5.1")
	if len(s) != 1 || len(s[0].Matches) != 2 || s[0].Matches[0].Version != tc.entries["base/qemu/x86_64/stable 2"].Ref.Version {
		t.Errorf("search matches %v", s)
	}
	for _, q := range []string{"?variant=nope", "?fips=maybe", "?platform=%3Cscript%3E", "?version=1.0"} {
		if code, _, _ := get(t, srv, "/api/streams"+q); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
	// Pages of two versions, newest first; the deprecated one says so.
	var page struct {
		Pages int               `json:"pages"`
		Items []web.VersionJSON `json:"items"`
	}
	_, _, body := get(t, srv, "/api/streams/base/qemu/x86_64/stable?page=2")
	if err := json.Unmarshal([]byte(body), &page); err != nil || page.Pages != 2 || len(page.Items) != 1 || page.Items[0].Ref.Version != v0.Ref.Version {
		t.Fatalf("page 2: %v %s", err, body)
	}
	if d := page.Items[0].Deprecation; d == nil || d.Reason != "CVE-2026-0001" {
		t.Errorf("deprecation of %s: %+v", v0.Ref, d)
	}
	_, _, html := get(t, srv, "/s/base/qemu/x86_64/stable?page=2")
	if !strings.Contains(html, "CVE-2026-0001") || !strings.Contains(html, `href="/v/base/qemu/x86_64/stable/`+v1.Ref.Version.String()+`"`) {
		t.Error("the stream page does not show the deprecation and its replacement")
	}
	for _, p := range []string{"/s/base/qemu/x86_64/lts", "/s/nope/qemu/x86_64/stable", "/v/base/qemu/x86_64/stable/20300101.000000.0", "/api/streams/base/aws/x86_64/stable"} {
		if code, _, _ := get(t, srv, p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

// Run reloads the catalog and verifies the latest version of every stream
// in the background: the directory shows their states without anyone
// opening them, and a version published meanwhile appears.
func TestRunVerifiesLatest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tc := localCatalog(t, f)
	v, err := web.NewVerifier(nil, f.trusted)
	if err != nil {
		t.Fatal(err)
	}
	// The real clock: incomplete results (the new version's files appear
	// in DirFiles at its next walk) are retried as time passes.
	h, err := web.New(tc.store, web.WithVerifier(v), web.WithFiles(tc.files), web.WithRefresh(50*time.Millisecond), web.WithRecheck(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	srv := httptestServer(t, h)
	states := func() map[string]string {
		_, _, body := get(t, srv, "/api/streams")
		var ss []web.StreamJSON
		json.Unmarshal([]byte(body), &ss)
		out := map[string]string{}
		for _, s := range ss {
			out[s.Stream+" "+s.Latest.Version.String()] = string(s.Verification)
		}
		return out
	}
	waitFor := func(what string, ok func(map[string]string) bool) {
		t.Helper()
		// A wait for background work, not a speed check: it gives up only
		// when the test binary's own deadline (-timeout) is near.
		deadline, bounded := t.Deadline()
		for {
			got := states()
			if ok(got) {
				return
			}
			if bounded && time.Until(deadline) < 5*time.Second {
				_, _, body := get(t, srv, "/api/versions/nginx/aws/x86_64/stable/20261124.000000.0")
				t.Fatalf("%s: still %v\n%s", what, got, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("every latest version verified", func(m map[string]string) bool {
		for _, s := range m {
			if s != "verified" {
				return false
			}
		}
		return len(m) == 3
	})
	e := f.publish(t, tc.store, f.build(t, "nginx/aws/x86_64/stable", 1, append(basePackages(1), pkg{"nginx", "1.29.4-r0", "BSD-2-Clause"})...))
	waitFor("the new nginx version appears, verified", func(m map[string]string) bool {
		return m["nginx/aws/x86_64/stable "+e.Ref.Version.String()] == "verified"
	})
}
