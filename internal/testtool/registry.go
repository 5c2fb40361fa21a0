package testtool

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// DockerRegistry starts Debian's docker-registry (distribution 2.8, no
// Referrers API, deletes enabled) on a free 127.0.0.1 port, with its
// storage under dir/data (dir "" is a temporary directory) and its log in
// dir/log, waits until it answers /v2/, and returns its host:port. It stops
// when the test ends. A missing docker-registry fails the test.
func DockerRegistry(tb testing.TB, dir string) string {
	tb.Helper()
	bin := Require(tb, "docker-registry")
	if dir == "" {
		dir = tb.TempDir()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `version: 0.1
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
`, filepath.Join(dir, "data"), addr), 0o644); err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(dir, "log")
	out, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); out.Close() })
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if i > 400 {
			b, _ := os.ReadFile(logPath)
			tb.Fatalf("docker-registry did not answer on %s within 20 s: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
