package oci_test

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/hardvm/hardvm/internal/testtool"
)

// dockerRegistry starts Debian's docker-registry (distribution 2.8, no
// Referrers API) on 127.0.0.1 and returns its host:port.
func dockerRegistry(t testing.TB) string {
	t.Helper()
	return testtool.DockerRegistry(t, "")
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
