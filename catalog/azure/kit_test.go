package azure

import (
	"context"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
)

// TestRegistrarKit runs catalog's conformance kit: the fake ARM must hold
// the version with the artifact's digest after Register (and Azurite the
// kept blob), and neither a version nor a blob may remain after
// Deregister, a rolled-back Publish or a refused artifact. The kit's
// tampered VHD changes a byte of its data, not of its footer: the upload
// finds out from the digest.
func TestRegistrarKit(t *testing.T) {
	r, fake, ctr := newTestRegistrar(t, WithKeepBlob())
	catalogtest.RunRegistrar(t, r, catalogtest.RegistrarConfig{
		Artifact: vhdArtifact,
		Check: func(t *testing.T, loc catalog.Location, a artifact.Artifact) {
			v := fake.resource(loc.ID)
			if v == nil {
				t.Fatalf("no image version %s", loc.ID)
			}
			if d := v["tags"].(map[string]any)[TagDigest]; d != a.Digest.String() {
				t.Errorf("version %s has digest tag %v, want %s", loc.ID, d, a.Digest)
			}
			if st := v["properties"].(map[string]any)["provisioningState"]; st != "Succeeded" {
				t.Errorf("version %s is %v", loc.ID, st)
			}
			props, err := ctr.NewBlobClient(loc.URI[strings.LastIndexByte(loc.URI, '/')+1:]).GetProperties(context.Background(), nil)
			if err != nil || *props.ContentLength != a.Size {
				t.Errorf("kept blob %s: %v", loc.URI, err)
			}
		},
		Gone: func(t *testing.T, loc catalog.Location) {
			if fake.resource(loc.ID) != nil {
				t.Errorf("image version %s still exists", loc.ID)
			}
			if b := blobs(t, ctr); len(b) != 0 {
				t.Errorf("blobs left: %v", b)
			}
		},
		Empty: func(t *testing.T) {
			fake.mu.Lock()
			for id := range fake.resources {
				if strings.Contains(id, "/versions/") {
					t.Errorf("image version %s left", id)
				}
			}
			fake.mu.Unlock()
			if b := blobs(t, ctr); len(b) != 0 {
				t.Errorf("blobs left: %v", b)
			}
		},
	})
}
