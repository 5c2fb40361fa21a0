package gcp

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"golang.org/x/oauth2"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

func testRef() vm.Ref {
	return vm.Ref{Variant: "base", Platform: vm.GCP, Arch: vm.X86_64, Kernel: vm.Stable,
		Version: vm.Version{Epoch: 1763856000, Build: 1}, Digest: "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
}

// writeGCETar writes a small disk.raw tar.gz; the GCE writer's own tests
// check the format, here only the transport matters.
func writeGCETar(t testing.TB, size int) string {
	p := filepath.Join(t.TempDir(), "disk.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "disk.raw", Mode: 0o644, Size: int64(size), Format: tar.FormatGNU})
	buf := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	tw.Write(buf)
	tw.Close()
	zw.Close()
	f.Close()
	return p
}

// openTar opens the file at p as a GCE artifact with its digest (or, if
// wrong, another).
func openTar(t testing.TB, p string, wrong bool, r progress.Reporter) *catalog.ArtifactFile {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := digest.SHA256.FromReader(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if wrong {
		d = digest.FromString("not the content")
	}
	src, err := catalog.OpenArtifact(artifact.Artifact{Format: vm.FormatGCE, Path: p, Digest: d}, "gcp", r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// testHTTP is an HTTP client that sends the bearer token the Compute fake
// checks, as an oauth2 transport sends the real ones.
func testHTTP() *http.Client {
	return oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: fakeToken}))
}

// clientFor returns the API client of the registrar for a storage peer at
// gcsURL and the Compute fake at computeURL, retrying after 1 ms.
func clientFor(t testing.TB, gcsURL, computeURL string) *client {
	c, err := newClient(testHTTP(), gcsURL, computeURL+"/compute/v1", testRetry)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var testRetry = retryPolicy{initial: time.Millisecond, max: 4 * time.Millisecond, attempts: 6}

// newTestRegistrar returns a registrar for the peers, polling and
// retrying after 1 ms.
func newTestRegistrar(t testing.TB, bucket, gcsURL, computeURL string, opts ...Option) *Registrar {
	r, err := New("p", bucket, testHTTP(), append([]Option{WithEndpoints(gcsURL, computeURL+"/compute/v1"), WithPollInterval(time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r.c.retry = testRetry
	return r
}

func TestUploadAndInsertImage(t *testing.T) {
	ctx := context.Background()
	gcs, gcsURL := startFakeGCS(t)
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	exists := func(b, o string) bool {
		_, err := gcs.Bucket(b).Object(o).Attrs(ctx)
		return err == nil
	}
	fake := newFakeCompute(t, exists)
	svc := clientFor(t, gcsURL, fake.srv.URL)

	path := writeGCETar(t, 3<<20)
	ref := testRef()
	err := uploadObject(ctx, svc, "images", imageName(ref)+".tar.gz", openTar(t, path, false, nil), map[string]string{"hardvm-ref": ref.String()}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	attrs, err := gcs.Bucket("images").Object(imageName(ref) + ".tar.gz").Attrs(ctx)
	if err != nil || attrs.Size != fi.Size() || attrs.Metadata["hardvm-ref"] != ref.String() {
		t.Fatalf("object in fake-gcs-server: %+v %v", attrs, err)
	}

	img, err := insertImage(ctx, svc, "p", imageSpec{
		name: imageName(ref), family: family(ref), arch: gceArch(ref.Arch), labels: refLabels(ref),
		source: "https://storage.googleapis.com/images/" + imageName(ref) + ".tar.gz", dbCertDER: []byte{0x30, 0x82},
	}, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if img.Family != "hardvm-base-stable" || img.Labels["hardvm-version"] != "20251123-000000-1" || img.ShieldedInstanceInitialState == nil {
		t.Errorf("image %+v labels %v", img, img.Labels)
	}
	if err := shareImage(ctx, svc, "p", img.Name, []string{"group:ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := deprecateImage(ctx, svc, "p", img.Name, "https://www.googleapis.com/compute/v1/projects/p/global/images/next", time.Unix(1763856000, 0), time.Time{}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := fake.images[img.Name].Deprecated; st == nil || st.Replacement != "https://www.googleapis.com/compute/v1/projects/p/global/images/next" {
		t.Errorf("deprecation %+v", st)
	}
	if err := deleteImage(ctx, svc, "p", img.Name, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := deleteImage(ctx, svc, "p", img.Name, time.Millisecond); err != nil {
		t.Fatalf("deleting a deleted image must be a no-op: %v", err)
	}
	if err := deleteObject(ctx, svc, "images", imageName(ref)+".tar.gz"); err != nil {
		t.Fatal(err)
	}
	if exists("images", imageName(ref)+".tar.gz") {
		t.Error("object left behind")
	}
}

func TestInsertImageMissingObjectFails(t *testing.T) {
	ctx := context.Background()
	fake := newFakeCompute(t, func(string, string) bool { return false })
	svc := clientFor(t, "http://127.0.0.1:1", fake.srv.URL)
	ref := testRef()
	_, err := insertImage(ctx, svc, "p", imageSpec{name: imageName(ref), arch: "X86_64", source: "https://storage.googleapis.com/b/missing.tar.gz"}, time.Millisecond)
	if err == nil || len(fake.images) != 0 {
		t.Fatalf("want a failed operation, got %v", err)
	}
}

func TestUploadCancelledLeavesNoObject(t *testing.T) {
	gcs, gcsURL := startFakeGCS(t)
	cl := clientFor(t, gcsURL, "http://127.0.0.1:1")
	ctx := context.Background()
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	path := writeGCETar(t, 4<<20)
	src := openTar(t, path, false, progress.Func(func(_ string, done, _ int64) {
		if done > 0 {
			cancel()
		}
	}))
	if err := uploadObject(cctx, cl, "images", "x.tar.gz", src, nil, 256<<10); err == nil {
		t.Fatal("cancelled upload succeeded")
	}
	if _, err := gcs.Bucket("images").Object("x.tar.gz").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatalf("object exists after a cancelled upload: %v", err)
	}
}

// An upload whose digest turns out wrong at its end is never finalized,
// whether it fits in one request or takes several: fake-gcs-server holds
// no object.
func TestUploadWrongDigestLeavesNoObject(t *testing.T) {
	gcs, gcsURL := startFakeGCS(t)
	cl := clientFor(t, gcsURL, "http://127.0.0.1:1")
	ctx := context.Background()
	if err := gcs.Bucket("images").Create(ctx, "p", nil); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{100 << 10, 1 << 20} { // one chunk; four chunks of 256 KiB
		path := writeGCETar(t, size)
		err := uploadObject(ctx, cl, "images", "x.tar.gz", openTar(t, path, true, nil), nil, 256<<10)
		if !errors.Is(err, catalog.ErrDigest) || !errors.Is(err, catalog.ErrRejected) {
			t.Fatalf("upload of %d bytes with a wrong digest: %v", size, err)
		}
		if _, err := gcs.Bucket("images").Object("x.tar.gz").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
			t.Fatalf("object exists after an upload with a wrong digest: %v", err)
		}
		// The same file with its digest is uploaded whole.
		if err := uploadObject(ctx, cl, "images", "x.tar.gz", openTar(t, path, false, nil), nil, 256<<10); err != nil {
			t.Fatal(err)
		}
		attrs, err := gcs.Bucket("images").Object("x.tar.gz").Attrs(ctx)
		if fi, _ := os.Stat(path); err != nil || attrs.Size != fi.Size() {
			t.Fatalf("object %+v, %v", attrs, err)
		}
		if err := deleteObject(ctx, cl, "images", "x.tar.gz"); err != nil {
			t.Fatal(err)
		}
	}
}
