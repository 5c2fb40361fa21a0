// Package webtest is what tests of catalog/web and of programs serving it
// use: Debian's headless Chromium driven by chromedp, screenshots checked
// not to be blank, and Debian's docker-registry as an OCI catalog on
// 127.0.0.1. A missing chromium or docker-registry fails the test (`make
// deps` installs both): a browser test that skips proves nothing.
package webtest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hardvm/hardvm/internal/testtool"
)

// Timeout bounds each browser: a hung Chromium fails its test, not the
// suite.
const Timeout = 3 * time.Minute

// Browser starts Chromium for one test, with a profile directory of its own
// (tests in parallel share nothing) and a 1280×900 window, and returns the
// context of its tab. Unless scripts is true, the pages it opens run no
// JavaScript of their own (the test still reads the DOM through the
// DevTools protocol). The browser stops when the test ends or after
// [Timeout].
func Browser(t testing.TB, scripts bool) context.Context {
	t.Helper()
	bin := testtool.Require(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if _, err := chromedp.Call(bctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !scripts}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return bctx
}

// Screenshot writes a full-page screenshot of the current page as
// name.png in dir (a test's ArtifactDir, kept with go test -artifacts)
// and fails the test if it is blank.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if blank, why := Blank(img); blank {
		t.Errorf("screenshot %s (%s) is blank: %s", name, p, why)
	}
}

// Blank reports whether an image looks blank, and why it looks as it does:
// a rendered page has text, so many distinct colours and at least one
// pixel in a hundred that is not the background (its most common colour).
func Blank(img image.Image) (bool, string) {
	count := map[[4]uint32]int{}
	total := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			count[[4]uint32{r, g, b, a}]++
			total++
		}
	}
	bg := 0
	for _, n := range count {
		bg = max(bg, n)
	}
	ink := total - bg
	why := fmt.Sprintf("%d colours, %d of %d pixels not background", len(count), ink, total)
	return total == 0 || len(count) < 8 || ink*100 < total, why
}

// DockerRegistry starts Debian's docker-registry (distribution 2.8) on a
// free 127.0.0.1 port with a temporary storage directory, and returns its
// host:port and the storage directory (blobs are under
// docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data). It stops when the
// test ends.
func DockerRegistry(t testing.TB) (host, storage string) {
	t.Helper()
	dir := t.TempDir()
	return testtool.DockerRegistry(t, dir), filepath.Join(dir, "data")
}
