package oci_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/hardvm/hardvm/internal/testtool"
)

// dockerRegistry starts Debian's docker-registry (distribution 2.8, no
// Referrers API) on a free 127.0.0.1 port with a temporary storage
// directory, and returns its host:port.
func dockerRegistry(t testing.TB) string {
	t.Helper()
	bin := testtool.Require(t, "docker-registry")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, fmt.Appendf(nil, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	out, _ := os.Create(filepath.Join(dir, "log"))
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
				return addr
			}
		}
		if i > 200 {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("docker-registry did not start on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ggcrRegistry starts go-containerregistry's registry (with the Referrers
// API) in process on 127.0.0.1 and returns its host:port.
func ggcrRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(discard())))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

var repoN atomic.Int64

// repo returns a fresh repository name on host.
func repo(host string) string { return fmt.Sprintf("%s/hardvm/catalog%d", host, repoN.Add(1)) }

func discard() *log.Logger { return log.New(io.Discard, "", 0) }
