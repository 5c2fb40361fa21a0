package web_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	digest "github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/catalog/web"
	"github.com/hardvm/hardvm/catalog/web/webtest"
)

var repoN atomic.Int64

// ociCatalog publishes the fixture streams into a repository of a
// docker-registry, whose blobs (disks, attachments) the server reads back
// through RegistryFiles.
func ociCatalog(t testing.TB, f *fixture) *testCatalog {
	t.Helper()
	host, data := webtest.DockerRegistry(t)
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
	tc.blob = func(d digest.Digest) string {
		h := d.Encoded()
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
