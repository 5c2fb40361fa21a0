package web_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	digest "github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/web"
	"github.com/hardvm/hardvm/vm"
)

// hostile is markup and script in every string of an entry a catalog
// writer controls; none of it may reach a page unescaped.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(2)>`,
	`javascript:alert(3)`,
	`</td></tr></table><script>alert(4)</script>`,
	`<svg onload=alert(5)>`,
}

// hostileCatalog is a directory catalog with one entry whose package
// names, versions, kernel, locations and deprecation carry hostile, plus a
// normal entry it names as its replacement.
func hostileCatalog(t testing.TB) (catalog.Store, catalog.Entry, catalog.Entry) {
	t.Helper()
	store, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	good := catalogtest.NewEntry("python/qemu/x86_64/stable", 2, 2)
	if _, err := store.Put(ctx, good); err != nil {
		t.Fatal(err)
	}
	e := catalogtest.NewEntry("python/qemu/x86_64/stable", 1, 0)
	e.Packages = nil
	for i, h := range hostile {
		e.Packages = append(e.Packages, catalog.Package{Name: string(rune('a'+i)) + h, Version: h, Origin: h})
	}
	e.Kernel = hostile[0]
	e.Locations = []catalog.Location{{Target: vm.QEMU, Region: hostile[1], ID: hostile[2], URI: hostile[2], Digest: digest.Digest(hostile[3]),
		Copies: []catalog.Location{{Region: hostile[4], ID: hostile[0], URI: "javascript:alert(6)"}}}}
	repl := good.Ref
	e.Deprecation = &catalog.Deprecation{Time: e.Published.Add(time.Hour), Replacement: &repl, Reason: hostile[3]}
	if err := e.Validate(); err != nil {
		t.Fatalf("the hostile entry must be a valid one: %v", err)
	}
	if _, err := store.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	return store, e, good
}

// Every page and the JSON escape what the catalog holds: checked in the
// HTML the server sends, and in Chromium with scripts enabled (no dialog
// opens, no element is injected, the text shows literally).
func TestHostileNamesEscaped(t *testing.T) {
	t.Parallel()
	store, e, good := hostileCatalog(t)
	h, err := web.New(store, web.WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptestServer(t, h)
	paths := []string{"/", "/?package=" + urlQuery(hostile[0]), "/s/python/qemu/x86_64/stable", "/v/python/qemu/x86_64/stable/" + e.Ref.Version.String(),
		"/v/python/qemu/x86_64/stable/" + good.Ref.Version.String(),
		"/api/versions/python/qemu/x86_64/stable/" + e.Ref.Version.String(), "/api/streams?package=" + urlQuery("a"+hostile[0])}
	for _, p := range paths {
		resp, err := http.Get(srv + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
			continue
		}
		for _, bad := range []string{"<script", "<img", "<svg onload", `href="javascript`, "</td></tr></table><script"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: the response holds %q unescaped", p, bad)
			}
		}
		if strings.HasPrefix(p, "/v/") && !strings.Contains(html.UnescapeString(body), hostile[0]) {
			t.Errorf("%s: the hostile package name is not shown as text", p)
		}
	}

	ctx := newBrowser(t, true)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	opened := make(chan string, 1)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			select {
			case opened <- ev.Message:
			default:
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	for _, p := range paths[:5] {
		visit(t, ctx, srv+p, "main")
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main script, main img, main iframe, main [onerror], main [onload]").length`))
		if err != nil || n != 0 {
			t.Errorf("%s: %d injected elements (%v)", p, n, err)
		}
	}
	visit(t, ctx, srv+paths[4], "#delta")
	if got := text(t, ctx, "#delta"); !strings.Contains(got, hostile[0]) {
		t.Errorf("the delta does not show the package name as text: %q", got)
	}
	screenshot(t, ctx, "hostile")
	select {
	case m := <-opened:
		t.Errorf("a script ran: dialog %q", m)
	default:
	}
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", "+", "%2B", " ", "+", "<", "%3C", ">", "%3E", `"`, "%22").Replace(s)
}

// No URL reaches a file that is not the catalog's: paths are never file
// names, traversal finds nothing, only GET and HEAD are served.
func TestNoPathReachesTheFileSystem(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tc := localCatalog(t, f)
	srv := httptestServer(t, newHandler(t, f, tc))
	v := "/v/base/qemu/x86_64/stable/" + tc.entries["base/qemu/x86_64/stable 1"].Ref.Version.String()
	for _, p := range []string{
		v + "/files/..%2f..%2f..%2f..%2fetc%2fpasswd",
		v + "/files/%2fetc%2fpasswd",
		v + "/files/lock.json",
		v + "/files/disk.vmdk",
		"/v/..%2f..%2f..%2fetc/passwd/x86_64/stable/20261124.000000.0",
		"/s/base/qemu/x86_64/..%2f..%2f..%2fetc%2fpasswd",
		"/static/..%2f..%2fgo.mod",
		"/static/style.css/../../../etc/passwd",
		"/etc/passwd",
		"/s/base/qemu/x86_64/stable/../../../../../etc/passwd",
	} {
		resp, err := http.Get(srv + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "root:") || strings.Contains(string(b), "module github.com") {
			t.Errorf("GET %s: %d\n%.200s", p, resp.StatusCode, b)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, srv+v, strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", m, v, resp.StatusCode)
		}
	}
}

// DirFiles reads only regular files inside its directories: a link out of
// them, or a pipe, named by the digest the catalog asks for, is not read.
func TestDirFilesStayInside(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "secret")
	secret := []byte("outside the catalog's directories\n")
	if err := os.WriteFile(outside, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	d := digest.Digest(catalogtest.Digest(string(secret)))
	hexd := d.Encoded()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{hexd, "copy"} {
		if err := os.Symlink(outside, filepath.Join(dir, "blobs", "sha256", name)); err != nil {
			t.Fatal(err)
		}
	}
	pipe := digest.Digest(catalogtest.Digest("a pipe"))
	if err := syscall.Mkfifo(filepath.Join(dir, pipe.Encoded()), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := web.NewDirFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rc, err := files.Open(ctx, d, int64(len(secret))); !errors.Is(err, web.ErrUnavailable) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("a link out of the directory was followed: %v", err)
	}
	if _, err := files.Open(ctx, pipe, 6); !errors.Is(err, web.ErrUnavailable) {
		t.Errorf("a pipe: %v, want ErrUnavailable", err)
	}
	// The same content inside is found, by content.
	if err := os.WriteFile(filepath.Join(dir, "inside"), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	files.Rescan()
	rc, err := files.Open(ctx, d, int64(len(secret)))
	if err != nil {
		t.Fatalf("a file inside: %v", err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != string(secret) {
		t.Errorf("read %q", b)
	}
}
