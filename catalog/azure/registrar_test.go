package azure

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

const storageID = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/devstoreaccount1"

func newTestRegistrar(t testing.TB, opts ...Option) (*Registrar, *fakeARM, *container.Client) {
	t.Helper()
	ctr := startAzurite(t)
	fake := newFakeARM(t)
	fake.blob = azuriteBlob(ctr)
	r, err := New(Config{
		SubscriptionID: "sub1", ResourceGroup: "rg1", Gallery: "hardvm", Location: "westeurope",
		Regions: []string{"northeurope"}, Container: sasContainer(t, ctr), StorageAccountID: storageID, Credential: staticToken{},
	}, append([]Option{WithARMOptions(fake.options()), WithPollInterval(5 * time.Millisecond), WithWorkers(4)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r, fake, ctr
}

// vhdArtifact makes a fixed VHD with vdisk's writer and returns it as an
// artifact with its digest.
func vhdArtifact(t *testing.T) artifact.Artifact {
	t.Helper()
	p := testVHD(t, testRaw(t, 8<<20))
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return artifact.Artifact{Format: vm.FormatVHD, Path: p, Size: n, VirtualSize: n - FooterSize, Digest: digest.NewDigest(digest.SHA256, h)}
}

func blobs(t *testing.T, c *container.Client) []string {
	t.Helper()
	var out []string
	pg := c.NewListBlobsFlatPager(nil)
	for pg.More() {
		r, err := pg.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range r.Segment.BlobItems {
			out = append(out, *b.Name)
		}
	}
	return out
}

func (f *fakeARM) resource(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resources[strings.ToLower(id)]
}

func TestRegisterDeprecateDeregister(t *testing.T) {
	var stages []string
	r, fake, ctr := newTestRegistrar(t, WithProgress(progress.Func(func(s string, _, _ int64) { stages = append(stages, s) })))
	a := vhdArtifact(t)
	e := catalogtest.EntryFor(vm.Azure, a, 1)
	ctx := context.Background()
	loc, err := r.Register(ctx, a, e)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Target != vm.Azure || loc.Region != "westeurope" || loc.Digest != a.Digest || loc.Format != vm.FormatVHD {
		t.Errorf("location %+v", loc)
	}
	v := fake.resource(loc.ID)
	if v == nil {
		t.Fatalf("no image version %s in the fake", loc.ID)
	}
	tags := v["tags"].(map[string]any)
	if tags[TagRef] != e.Ref.String() || tags[TagDigest] != a.Digest.String() {
		t.Errorf("tags %v", tags)
	}
	img := fake.resource(loc.ID[:strings.Index(loc.ID, "/versions/")])
	if img == nil || img["properties"].(map[string]any)["hyperVGeneration"] != "V2" {
		t.Errorf("image definition %v", img)
	}
	regions := v["properties"].(map[string]any)["publishingProfile"].(map[string]any)["targetRegions"].([]any)
	if len(regions) != 2 {
		t.Errorf("target regions %v", regions)
	}
	if b := blobs(t, ctr); len(b) != 0 {
		t.Errorf("blobs left after registration: %v", b)
	}
	if len(stages) == 0 || stages[0] != "azure upload disk.vhd" {
		t.Errorf("progress stages %v", stages)
	}

	// Deprecation: excluded from latest, an end-of-life date, the
	// replacement as a tag.
	next := catalogtest.EntryFor(vm.Azure, a, 2).Ref
	eol := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	if err := r.Deprecate(ctx, loc, catalog.Deprecation{Time: eol.AddDate(0, -1, 0), EndOfLife: eol, Replacement: &next}); err != nil {
		t.Fatal(err)
	}
	v = fake.resource(loc.ID)
	pub := v["properties"].(map[string]any)["publishingProfile"].(map[string]any)
	if pub["excludeFromLatest"] != true || pub["endOfLifeDate"] != "2027-06-01T00:00:00Z" {
		t.Errorf("publishing profile after deprecation: %v", pub)
	}
	if tags := v["tags"].(map[string]any); tags[TagReplacement] != next.String() || tags[TagRef] != e.Ref.String() {
		t.Errorf("tags after deprecation: %v", tags)
	}

	if err := r.Deregister(ctx, loc); err != nil {
		t.Fatal(err)
	}
	if fake.resource(loc.ID) != nil {
		t.Error("image version still there after Deregister")
	}
	if err := r.Deregister(ctx, loc); err != nil {
		t.Errorf("second Deregister: %v", err)
	}
}

// TestRegisterFailureCleansUp fails the last step (the image version's
// provisioning) and checks that neither the version nor the blob is left.
func TestRegisterFailureCleansUp(t *testing.T) {
	r, fake, ctr := newTestRegistrar(t, WithKeepBlob())
	fake.failOn["PUT version"] = "InternalOperationError"
	a := vhdArtifact(t)
	_, err := r.Register(context.Background(), a, catalogtest.EntryFor(vm.Azure, a, 1))
	if err == nil || !strings.Contains(err.Error(), "InternalOperationError") {
		t.Fatalf("Register = %v, want the injected failure", err)
	}
	if fake.calls["PUT version"] != 1 || fake.calls["DELETE version"] != 1 {
		t.Errorf("calls %v", fake.calls)
	}
	for k := range fake.resources {
		if strings.Contains(k, "/versions/") {
			t.Errorf("version %s left behind", k)
		}
	}
	if b := blobs(t, ctr); len(b) != 0 {
		t.Errorf("blobs left behind: %v", b)
	}
}

func TestRegisterRefusesBeforeUpload(t *testing.T) {
	qemu := testtool.Require(t, "qemu-img")
	r, fake, ctr := newTestRegistrar(t)
	dir := t.TempDir()
	dyn := filepath.Join(dir, "dynamic.vhd")
	testtool.Run(t, qemu, "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", dyn, "8M")
	odd := filepath.Join(dir, "odd.vhd")
	testtool.Run(t, qemu, "create", "-q", "-f", "vpc", "-o", "subformat=fixed,force_size=on", odd, "3584K")
	good := vhdArtifact(t)
	tests := []struct {
		name string
		a    artifact.Artifact
		rule string
		want error
	}{
		{"dynamic VHD", artifact.Artifact{Format: vm.FormatVHD, Path: dyn, Digest: good.Digest}, "azure-vhd-fixed", catalog.ErrRejected},
		{"size not whole MiB", artifact.Artifact{Format: vm.FormatVHD, Path: odd, Digest: good.Digest}, "azure-size", catalog.ErrRejected},
		{"raw format", artifact.Artifact{Format: vm.FormatRaw, Path: good.Path, Digest: good.Digest}, catalog.RuleFormat, catalog.ErrRejected},
		{"wrong digest", artifact.Artifact{Format: vm.FormatVHD, Path: good.Path, Digest: catalogtest.Digest("x")}, catalog.RuleDigest, catalog.ErrDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Register(context.Background(), tt.a, catalogtest.EntryFor(vm.Azure, good, 1))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Register = %v, want %v", err, tt.want)
			}
			var ae *catalog.ArtifactError
			if !errors.As(err, &ae) || ae.Rule != tt.rule || ae.Path != tt.a.Path || ae.Target != "azure" {
				t.Errorf("error %v does not name rule %s, the file and the target", err, tt.rule)
			}
		})
	}
	if n := fake.calls["PUT version"] + fake.calls["PUT image"]; n != 0 {
		t.Errorf("%d gallery writes for refused artifacts", n)
	}
	if b := blobs(t, ctr); len(b) != 0 {
		t.Errorf("blobs left: %v", b)
	}
}

// Each long-running operation can fail (the fake ends it "Failed", as
// ARM does): the error is the *azcore.ResponseError carrying the
// operation's code, and the registrar leaves nothing behind: a failed
// image definition leaves no blob and no version; a failed update changes
// nothing; a failed delete leaves the version for the next Deregister.
func TestRegistrarOperationFailures(t *testing.T) {
	ctx := context.Background()
	code := func(t *testing.T, err error, want string) {
		t.Helper()
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != want {
			t.Fatalf("error %v, want an *azcore.ResponseError with code %s", err, want)
		}
	}
	t.Run("image definition", func(t *testing.T) {
		r, fake, ctr := newTestRegistrar(t)
		fake.failOn["PUT image"] = "GalleryImageQuotaExceeded"
		a := vhdArtifact(t)
		_, err := r.Register(ctx, a, catalogtest.EntryFor(vm.Azure, a, 1))
		code(t, err, "GalleryImageQuotaExceeded")
		if fake.calls["PUT version"] != 0 || len(blobs(t, ctr)) != 0 {
			t.Errorf("calls %v, blobs %v", fake.calls, blobs(t, ctr))
		}
	})
	t.Run("update and delete", func(t *testing.T) {
		r, fake, ctr := newTestRegistrar(t)
		a := vhdArtifact(t)
		e := catalogtest.EntryFor(vm.Azure, a, 1)
		loc, err := r.Register(ctx, a, e)
		if err != nil {
			t.Fatal(err)
		}
		before := fake.resource(loc.ID)
		fake.failOn["PATCH version"] = "OperationNotAllowed"
		next := catalogtest.EntryFor(vm.Azure, a, 2).Ref
		err = r.Deprecate(ctx, loc, catalog.Deprecation{Time: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Replacement: &next})
		code(t, err, "OperationNotAllowed")
		after := fake.resource(loc.ID)
		if pub := after["properties"].(map[string]any)["publishingProfile"].(map[string]any); pub["excludeFromLatest"] != false {
			t.Errorf("a failed deprecation changed the version: %v", pub)
		}
		if before["tags"].(map[string]any)[TagDigest] != after["tags"].(map[string]any)[TagDigest] {
			t.Error("a failed deprecation changed the tags")
		}
		delete(fake.failOn, "PATCH version")
		fake.failOn["DELETE version"] = "InternalOperationError"
		code(t, r.Deregister(ctx, loc), "InternalOperationError")
		if fake.resource(loc.ID) == nil {
			t.Fatal("a failed delete removed the version")
		}
		delete(fake.failOn, "DELETE version")
		if err := r.Deregister(ctx, loc); err != nil {
			t.Fatal(err)
		}
		if fake.resource(loc.ID) != nil || len(blobs(t, ctr)) != 0 {
			t.Error("version or blob left")
		}
		if fake.calls["failed operation"] != 2 {
			t.Errorf("%d failed operations, want 2", fake.calls["failed operation"])
		}
	})
}

// The fake looks the version's source up in Azurite: a blob that is not
// there (deleted before the version is created) or that is not a fixed
// VHD is refused, as ARM refuses an unusable source.
func TestVersionSourceIsLookedUp(t *testing.T) {
	ctx := context.Background()
	r, _, ctr := newTestRegistrar(t)
	a := vhdArtifact(t)
	is := r.spec(catalogtest.EntryFor(vm.Azure, a, 1).Ref)
	if err := ensureImage(ctx, r.images, is, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	vs := versionSpec{image: is, name: "1.0.0", storageAccountID: storageID, tags: map[string]string{TagRef: "r", TagDigest: "d"}}
	vs.blobURI = ctr.NewPageBlobClient("missing.vhd").URL()
	if _, err := createVersion(ctx, r.versions, vs, time.Millisecond); err == nil || !strings.Contains(err.Error(), "BlobNotFound") {
		t.Fatalf("a missing source blob: %v", err)
	}
	// A page blob of zeros: whole pages, but no VHD footer.
	pb := ctr.NewPageBlobClient("zeros.vhd")
	if _, err := pb.Create(ctx, 4096, nil); err != nil {
		t.Fatal(err)
	}
	vs.blobURI = pb.URL()
	if _, err := createVersion(ctx, r.versions, vs, time.Millisecond); err == nil || !strings.Contains(err.Error(), "fixed VHD footer") {
		t.Fatalf("a blob without a VHD footer: %v", err)
	}
	vs.blobURI, vs.storageAccountID = pb.URL(), strings.Replace(storageID, "devstoreaccount1", "otheraccount", 1)
	if _, err := createVersion(ctx, r.versions, vs, time.Millisecond); err == nil || !strings.Contains(err.Error(), "storageAccountId says") {
		t.Fatalf("a blob of another account: %v", err)
	}
}
