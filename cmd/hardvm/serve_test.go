package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/catalog/web/webtest"
	"github.com/hardvm/hardvm/provenance"
)

// syncBuffer is a buffer the server goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var servingRe = regexp.MustCompile(`serving .* on (http://127\.0\.0\.1:[0-9]+)/`)

// serve runs `hardvm catalog serve` with args on a free port until the
// test ends, and returns its URL.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{stdout: &out, stderr: &errs}, append([]string{"catalog", "serve", "--addr", "127.0.0.1:0"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("catalog serve exited %d: %s", code, errs.String())
		}
	})
	for i := 0; ; i++ {
		if m := servingRe.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("catalog serve exited %d:\n%s\n%s", code, out.String(), errs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if i > 1200 {
			t.Fatalf("catalog serve did not start:\n%s\n%s", out.String(), errs.String())
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestCatalogServeUsage(t *testing.T) {
	cat, _ := fixtureCatalog(t)
	bad := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(bad, []byte("nonsense: [\n"), 0o644)
	notKey := filepath.Join(t.TempDir(), "key.pub")
	os.WriteFile(notKey, []byte("not a key"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"catalog", "serve"}, 2, "--catalog is required"},
		{[]string{"catalog", "serve", "--catalog", cat, "extra"}, 2, "unexpected arguments"},
		{[]string{"catalog", "serve", "--catalog", cat, "--policy", bad}, 2, "--policy needs --key"},
		{[]string{"catalog", "serve", "--catalog", cat, "--key", "missing.pub"}, 2, "--key"},
		{[]string{"catalog", "serve", "--catalog", cat, "--key", notKey}, 1, "key.pub"},
		{[]string{"catalog", "serve", "--catalog", cat, "--key", notKey, "--policy", bad}, 1, "key.pub"},
		{[]string{"catalog", "serve", "--catalog", cat, "--files", "/nonexistent/dir"}, 1, "nonexistent"},
		{[]string{"catalog", "serve", "--catalog", cat, "--addr", "127.0.0.1:99999"}, 2, "--addr"},
		{[]string{"catalog", "serve", "--help"}, 0, "--policy"},
	} {
		t.Run(strings.Join(tc.args[2:], " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q?\nstdout: %s\nstderr: %s", code, tc.code, tc.want, out, errs)
			}
		})
	}
}

// The quickstart, run twice as a user runs it, then its catalog served:
// the stream shows both versions and the delta between them; the disks
// registered by the quickstart and the signed attestations in its build
// directories are read and verified by the server.
func TestCatalogServeQuickstart(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "quickstart")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/quickstart").CombinedOutput(); err != nil {
		t.Fatalf("go build quickstart: %v\n%s", err, out)
	}
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := exec.CommandContext(ctx, bin, "-out", dir).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("quickstart run %d: %v\n%s", run, err, out)
		}
	}
	args := []string{"--catalog", filepath.Join(dir, "catalog"), "--files", dir, "--recheck", "0"}
	for _, p := range []string{"qemu", "aws", "gcp", "azure", "vmware"} {
		args = append(args, "--key", filepath.Join(dir, p, builddir.PublicKeyFile))
	}
	srv := serve(t, args...)

	var streams []struct {
		Stream   string `json:"stream"`
		Versions int    `json:"versions"`
	}
	code, body := httpGet(t, srv+"/api/streams")
	if code != 200 || json.Unmarshal([]byte(body), &streams) != nil || len(streams) != 5 {
		t.Fatalf("directory: %d %s", code, body)
	}
	for _, s := range streams {
		if s.Versions != 2 {
			t.Errorf("%s: %d versions, want 2", s.Stream, s.Versions)
		}
	}
	var page struct {
		Items []struct {
			Ref   string         `json:"ref"`
			Delta *catalog.Delta `json:"delta"`
		} `json:"items"`
	}
	code, body = httpGet(t, srv+"/api/streams/base/qemu/x86_64/stable")
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil || len(page.Items) != 2 || page.Items[0].Delta == nil {
		t.Fatalf("stream: %d %s", code, body)
	}
	d := page.Items[0].Delta
	if d.Kernel == nil || d.Kernel.From != "6.17.8-r0" || d.Kernel.To != "6.17.9-r0" || !strings.Contains(fmt.Sprint(d.Upgraded), "openssh-server") {
		t.Errorf("delta between the two runs: %s", d.Summary())
	}

	// The newer version, verified from the files the quickstart left: the
	// disks where its local registrar put them, the attestations in its
	// build directories (the older version's were overwritten by the
	// second run).
	newer := strings.Replace(page.Items[0].Ref, ":", "/", 1)
	newer = newer[:strings.IndexByte(newer, '@')]
	state, failed, read := verification(t, srv, newer)
	if len(read) != 2 {
		t.Errorf("disks read and hashed: %v, want disk.raw and disk.qcow2", read)
	}
	// The quickstart's entries carry no signed SBOM statement (hardvm.Build
	// attaches the SBOM, the provenance and its bundle), which the default
	// policy requires: that, and only that, may fail.
	var e catalog.Entry
	if _, body := httpGet(t, srv+"/api/versions/"+newer); json.Unmarshal([]byte(body), &struct {
		Entry *catalog.Entry `json:"entry"`
	}{&e}) != nil {
		t.Fatal("no entry")
	}
	if _, hasSBOMBundle := e.Attachment(catalog.SBOMBundle); state != "verified" {
		for _, f := range failed {
			if !strings.HasPrefix(f, "attestation:sbom:") || hasSBOMBundle {
				t.Errorf("verification of %s failed: %s", newer, f)
			}
		}
	}
	// Under a policy that does not require the SBOM, everything verifies.
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("unsafe: {without_sbom: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lenient := serve(t, append(args, "--policy", policy)...)
	if state, failed, _ := verification(t, lenient, newer); state != "verified" {
		t.Errorf("without the SBOM requirement, %s: %s %v", newer, state, failed)
	}

	ctx := webtest.Browser(t, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv+"/s/base/qemu/x86_64/stable"), chromedp.WaitVisible(chromedp.CSS("#versions")),
		chromedp.Click(chromedp.CSS("#versions tr.version summary"), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.CSS("#versions table.delta"))); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#versions tr.version .delta-cell")))
	if err != nil || !strings.Contains(got, "kernel 6.17.8-r0 → 6.17.9-r0") || !strings.Contains(got, "openssh-server") {
		t.Errorf("the stream page's delta: %q %v", got, err)
	}
	webtest.Screenshot(t, ctx, t.ArtifactDir(), "quickstart-stream")
	if err := chromedp.Do(ctx, chromedp.Navigate(srv+"/v/"+newer), chromedp.WaitVisible(chromedp.CSS("#verification"))); err != nil {
		t.Fatal(err)
	}
	webtest.Screenshot(t, ctx, t.ArtifactDir(), "quickstart-version")
}

// verification returns the state of a version's verification, its failed
// rules and the artifacts whose bytes were read.
func verification(t *testing.T, srv, version string) (string, []string, []string) {
	t.Helper()
	var ver struct {
		Verification struct {
			State string            `json:"state"`
			Rules []provenance.Rule `json:"rules"`
		} `json:"verification"`
	}
	code, body := httpGet(t, srv+"/api/versions/"+version)
	if code != 200 || json.Unmarshal([]byte(body), &ver) != nil {
		t.Fatalf("version: %d %s", code, body)
	}
	var failed, read []string
	for _, r := range ver.Verification.Rules {
		if r.Outcome == provenance.Fail {
			failed = append(failed, r.Name+": "+r.Error)
		}
		if r.Name == "artifact-bytes" && r.Outcome == provenance.Pass {
			read = append(read, r.Artifact)
		}
	}
	return ver.Verification.State, failed, read
}

// An OCI catalog on docker-registry: the server reads the disks from the
// registry it keeps the catalog in.
func TestCatalogServeOCI(t *testing.T) {
	host, _ := webtest.DockerRegistry(t)
	repo := host + "/hardvm/serve"
	store, err := oci.New(repo, oci.WithInsecure(), oci.WithRemoteOptions(remote.WithRetryBackoff(remote.Backoff{Steps: 1})))
	if err != nil {
		t.Fatal(err)
	}
	e := catalogtest.NewEntry("nginx/gcp/x86_64/stable", 3, 4)
	if _, err := catalog.Publish(context.Background(), store, catalogtest.Release(t, e), catalog.PublishUnverifiedUnsafe()); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, "--catalog", "oci://"+repo, "--insecure")
	code, body := httpGet(t, srv+"/s/nginx/gcp/x86_64/stable")
	if code != 200 || !strings.Contains(body, e.Ref.Version.String()) {
		t.Fatalf("stream: %d", code)
	}
	want, _ := catalogtest.Content(e.Artifacts[1].Digest)
	code, body = httpGet(t, srv+"/v/nginx/gcp/x86_64/stable/"+e.Ref.Version.String()+"/files/"+e.Artifacts[1].Name)
	if code != 200 || body != string(want) {
		t.Errorf("download of %s from the registry: %d, %d bytes, want %d", e.Artifacts[1].Name, code, len(body), len(want))
	}
}
