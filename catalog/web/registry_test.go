package web_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/catalog/web"
	"github.com/hardvm/hardvm/internal/testtool"
)

// dockerRegistry starts Debian's docker-registry (distribution 2.8) on a
// free 127.0.0.1 port with a temporary storage directory, as catalog/oci's
// tests do, and returns its host:port and storage directory.
func dockerRegistry(t testing.TB) (string, string) {
	t.Helper()
	bin := testtool.Require(t, "docker-registry")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, data, addr), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	out, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); out.Close() })
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, data
			}
		}
		if i > 200 {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("docker-registry did not start on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var repoN atomic.Int64

// ociCatalog publishes the fixture streams into a repository of a
// docker-registry, whose blobs (disks, attachments) the server reads back
// through RegistryFiles.
func ociCatalog(t testing.TB, f *fixture) *testCatalog {
	t.Helper()
	host, data := dockerRegistry(t)
	repo := fmt.Sprintf("%s/hardvm/catalog%d", host, repoN.Add(1))
	store, err := oci.New(repo, oci.WithInsecure(), oci.WithRemoteOptions(remote.WithRetryBackoff(remote.Backoff{Steps: 1})))
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCatalog{store: store, entries: map[string]catalog.Entry{}}
	publishFixtures(t, f, tc)
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tc.files = web.RegistryFiles(r)
	tc.blob = func(d string) string {
		h := strings.TrimPrefix(d, "sha256:")
		return filepath.Join(data, "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")
	}
	return tc
}

func TestBrowserOCI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tc := ociCatalog(t, f)
	srv := httptestServer(t, newHandler(t, f, tc))
	browse(t, srv, tc, func(a catalog.Artifact) { flipByte(t, tc.blob(a.Digest), a.Size/2) })
}
