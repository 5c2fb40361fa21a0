package web_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/web/webtest"
	"github.com/hardvm/hardvm/vm"
)

// newBrowser starts Chromium for one test (see webtest.Browser).
func newBrowser(t *testing.T, scripts bool) context.Context { return webtest.Browser(t, scripts) }

// screenshot writes the current page to the test's artifact directory and
// checks that it is not blank.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	webtest.Screenshot(t, ctx, t.ArtifactDir(), name)
}

// visit navigates to url and waits for sel to be visible.
func visit(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

// text returns the visible text of the first element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// texts returns the visible texts of every element sel selects.
func texts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		t.Fatalf("nodes %s: %v", sel, err)
	}
	var out []string
	for _, n := range nodes {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.NodeIDs{n.NodeID}))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		out = append(out, s)
	}
	return out
}

// click clicks sel and waits for the page it loads.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// attr returns an attribute of every element sel selects.
func attrs(t *testing.T, ctx context.Context, sel, name string) []string {
	t.Helper()
	all, err := chromedp.Run(ctx, chromedp.AttributesAll(chromedp.CSSAll(sel), chromedp.AtLeast(0)))
	if err != nil {
		t.Fatalf("attributes of %s: %v", sel, err)
	}
	var out []string
	for _, a := range all {
		out = append(out, a[name])
	}
	return out
}

// style returns a computed style property of the first element sel selects.
func style(t *testing.T, ctx context.Context, sel, prop string) string {
	t.Helper()
	props, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("style of %s: %v", sel, err)
	}
	for _, p := range props {
		if p.Name == prop {
			return p.Value
		}
	}
	return ""
}

// browse does in Chromium what a person choosing and auditing an image
// does, and checks what the pages show: the directory, filtered to one
// variant; a stream, its versions in order and the delta naming the
// upgraded package; a version, its verification and its SBOM table sorted
// by a column; then, once damage flipped a byte of the version's raw disk
// where the catalog's files are kept, the badge turning red; and the
// version page on a phone's screen.
func browse(t *testing.T, srv string, tc *testCatalog, damage func(catalog.Artifact)) {
	ctx := newBrowser(t, false)
	v0, v1, v2 := tc.entries["base/qemu/x86_64/stable 0"], tc.entries["base/qemu/x86_64/stable 1"], tc.entries["base/qemu/x86_64/stable 2"]

	visit(t, ctx, srv+"/", "#streams")
	if got := attrs(t, ctx, "#streams tr.stream", "data-stream"); !slices.Equal(got, []string{"base+fips/aws/x86_64/lts", "base/qemu/x86_64/stable", "nginx/aws/x86_64/stable"}) {
		t.Errorf("directory lists %v", got)
	}
	screenshot(t, ctx, "1-directory")

	// Filter to one variant with the form (no script: the browser submits it).
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`select[name="variant"]`), "base")); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, `#filter button[type="submit"]`)
	if got := attrs(t, ctx, "#streams tr.stream", "data-stream"); !slices.Equal(got, []string{"base+fips/aws/x86_64/lts", "base/qemu/x86_64/stable"}) {
		t.Errorf("filtered to variant base, the directory lists %v", got)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "variant=base") {
		t.Errorf("filtered page is %s", loc)
	}
	screenshot(t, ctx, "2-filtered")

	// The stream: versions newest first, and the delta of build 1.
	click(t, ctx, `tr[data-stream="base/qemu/x86_64/stable"] a.stream-link`)
	want := []string{v2.Ref.Version.String(), v1.Ref.Version.String(), v0.Ref.Version.String()}
	if got := attrs(t, ctx, "#versions tr.version", "data-version"); !slices.Equal(got, want) {
		t.Errorf("stream lists versions %v, want %v", got, want)
	}
	row := `#versions tr[data-version="` + v1.Ref.Version.String() + `"]`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row+" summary"), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS(row+" table.delta"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, row+" tr.upgraded"); !strings.Contains(got, "openssl") || !strings.Contains(got, "3.5.0-r0") || !strings.Contains(got, "3.5.1-r0") {
		t.Errorf("delta of %s: upgraded row %q, want openssl 3.5.0-r0 → 3.5.1-r0", v1.Ref.Version, got)
	}
	if got := text(t, ctx, `#versions tr[data-version="`+v2.Ref.Version.String()+`"] .delta-summary`); !strings.Contains(got, "kernel 6.12.8-r0 → 6.12.9-r0") {
		t.Errorf("delta of %s: %q, want the kernel change", v2.Ref.Version, got)
	}
	screenshot(t, ctx, "3-stream")

	// The version: verified by the server, with every rule; its delta; its
	// SBOM sorted by version, then by version descending.
	click(t, ctx, row+" a.version-link")
	if got := text(t, ctx, "#verification .badge"); got != "verified" {
		t.Errorf("badge %q, want verified; failed rules: %v", got, texts(t, ctx, "#rules tr.fail"))
	}
	if n := len(texts(t, ctx, "#rules tr.rule")); n < 20 || len(texts(t, ctx, "#rules tr.fail")) != 0 {
		t.Errorf("%d rules shown, %d failed", n, len(texts(t, ctx, "#rules tr.fail")))
	}
	if got := text(t, ctx, "#delta tr.upgraded"); !strings.Contains(got, "openssl") {
		t.Errorf("version delta: %q", got)
	}
	green := style(t, ctx, "#verification .badge", "background-color")
	screenshot(t, ctx, "4-version")
	click(t, ctx, `#sbom-table th a[href*="sort=version"]`)
	names := texts(t, ctx, "#sbom-table tbody td.pkg")
	versions := texts(t, ctx, "#sbom-table tbody td:nth-child(2)")
	// The image, two disks, the distribution (wolfi) and six packages.
	if len(names) != 10 || !slices.IsSorted(versions) || !slices.Contains(names, "openssl") || !slices.Contains(names, "wolfi") {
		t.Errorf("SBOM sorted by version: %v %v", names, versions)
	}
	click(t, ctx, `#sbom-table th a[href*="sort=version"]`)
	versions = texts(t, ctx, "#sbom-table tbody td:nth-child(2)")
	if !slices.IsSortedFunc(versions, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("SBOM sorted by version, descending: %v", versions)
	}
	screenshot(t, ctx, "5-sbom-sorted")

	// One byte of the raw disk flipped where the catalog keeps it: red.
	raw, _ := v1.Artifact(vm.FormatRaw)
	damage(raw)
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#verification .badge"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#verification .badge"); !strings.HasPrefix(got, "verification failed") {
		t.Errorf("after flipping a byte of disk.raw, badge %q", got)
	}
	red := style(t, ctx, "#verification .badge", "background-color")
	if red == green || red != "rgb(207, 34, 46)" {
		t.Errorf("badge background %q (was %q), want red rgb(207, 34, 46)", red, green)
	}
	failed := strings.Join(texts(t, ctx, "#rules tr.fail"), "\n")
	if !strings.Contains(failed, "artifact-bytes") || !strings.Contains(failed, "disk.raw") {
		t.Errorf("failed rules do not name the damaged disk:\n%s", failed)
	}
	screenshot(t, ctx, "6-tampered")

	// A phone: the page fits the screen's width (wide tables scroll inside
	// their own box).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(srv+"/s/base/qemu/x86_64/stable"), chromedp.WaitVisible(chromedp.CSS("#versions"))); err != nil {
		t.Fatal(err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth + 1`))
	if err != nil || !fits {
		t.Errorf("stream page wider than a phone's screen (%v)", err)
	}
	screenshot(t, ctx, "7-phone")
}

func TestBrowserLocal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tc := localCatalog(t, f)
	srv := httptestServer(t, newHandler(t, f, tc))
	browse(t, srv, tc, func(a catalog.Artifact) { flipByte(t, tc.blob(a.Digest), a.Size/2) })
}

// flipByte inverts one byte of a file in place.
func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
