package gcp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/hardvm/hardvm/internal/testtool"
)

// startFakeGCS starts fake-gcs-server on 127.0.0.1 and returns a storage
// client for it. The server is a real implementation of the Cloud Storage
// JSON and upload APIs.
func startFakeGCS(t testing.TB) (*storage.Client, string) {
	bin := testtool.Require(t, "fake-gcs-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin, "-scheme", "http", "-host", "127.0.0.1", "-port", fmt.Sprint(port),
		"-backend", "memory", "-external-url", url, "-public-host", fmt.Sprintf("127.0.0.1:%d", port), "-log-level", "error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/storage/v1/b")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake-gcs-server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := storage.NewClient(context.Background(), option.WithEndpoint(url+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, url
}
