package hardvm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

func demoSpec(t testing.TB, platform vm.Cloud, formats ...vm.DiskFormat) vm.Spec {
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(t.TempDir(), "repo"), vm.X86_64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return vm.Spec{Variant: "base", Platform: platform, Arch: vm.X86_64, SourceDateEpoch: 1763856000,
		Repositories: []vm.Repository{repo}, Formats: formats, Size: 256 << 20}
}

func TestBuildWritesVerifiedArtifacts(t *testing.T) {
	spec := demoSpec(t, vm.QEMU, vm.FormatQCOW2)
	dir := t.TempDir()
	out, err := Build(context.Background(), spec, WithOutputDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Artifacts) != 2 || out.Artifacts[0].Format != vm.FormatRaw || out.Artifacts[1].Format != vm.FormatQCOW2 {
		t.Fatalf("artifacts %+v", out.Artifacts)
	}
	for _, name := range []string{builddir.LockFile, builddir.SBOMFile, builddir.ProvenanceFile, builddir.BundleFile("disk.raw"), builddir.PublicKeyFile, "disk.raw", "disk.qcow2"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	for _, r := range out.Results {
		if !r.Passed() {
			t.Errorf("verification failed: %v", r.Err())
		}
	}
	// The raw disk's root hash was read from its GPT and proven against its
	// data: the rule passed, it was not skipped.
	var b strings.Builder
	provenance.WriteTable(&b, out.Results...)
	if !strings.Contains(b.String(), "verity-root-hash") || !regexpPass.MatchString(b.String()) {
		t.Errorf("root hash rule not passed for disk.raw:\n%s", b.String())
	}
	if out.Entry.Ref.Digest != out.Artifacts[0].Digest || len(out.Entry.Packages) != len(out.Lock.Packages) {
		t.Errorf("entry %+v", out.Entry.Ref)
	}
	// The bundle on disk verifies the artifact with the key on disk, and a
	// tampered artifact fails.
	bb, _ := os.ReadFile(filepath.Join(dir, builddir.BundleFile("disk.raw")))
	bundle, err := provenance.ParseBundle(bb)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := provenance.ReadTrustedKeyFile(filepath.Join(dir, builddir.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := provenance.NewPolicy(provenance.WithoutSBOMUnsafe())
	if _, err := provenance.Verify(context.Background(), out.Artifacts[1], bundle, pol, tm); err != nil {
		t.Fatalf("qcow2 does not verify from the files on disk: %v", err)
	}
	f, _ := os.OpenFile(out.Artifacts[1].Path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, 1000)
	f.Close()
	tampered := out.Artifacts[1]
	tampered.Digest = ""
	if _, err := provenance.Verify(context.Background(), tampered, bundle, pol, tm); !errors.Is(err, provenance.ErrVerification) {
		t.Fatalf("tampered qcow2 verified: %v", err)
	}
}

func TestBuildReproducible(t *testing.T) {
	spec := demoSpec(t, vm.Azure)
	a, err := Build(context.Background(), spec, WithOutputDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(context.Background(), spec, WithOutputDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Artifacts {
		if a.Artifacts[i].Digest != b.Artifacts[i].Digest {
			t.Errorf("%s differs between builds: %s %s", a.Artifacts[i].Format, a.Artifacts[i].Digest, b.Artifacts[i].Digest)
		}
	}
	for _, name := range []string{builddir.LockFile, builddir.SBOMFile, builddir.ProvenanceFile} {
		x, _ := os.ReadFile(filepath.Join(a.Dir, name))
		y, _ := os.ReadFile(filepath.Join(b.Dir, name))
		if string(x) != string(y) {
			t.Errorf("%s differs between builds", name)
		}
	}
}

func TestBuildCancelledLeavesNoHalfFiles(t *testing.T) {
	spec := demoSpec(t, vm.QEMU, vm.FormatQCOW2)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Build(ctx, spec, WithOutputDir(dir), WithProgress(progressFunc(func(stage string, done, total int64) {
		if strings.HasPrefix(stage, "export") || strings.Contains(stage, "qcow2") {
			cancel()
		}
	})))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRelease) {
		t.Fatalf("want a cancelled release, got %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("half-written file left: %s", e.Name())
		}
	}
	// The next run starts clean and succeeds.
	if _, err := Build(context.Background(), spec, WithOutputDir(dir)); err != nil {
		t.Fatal(err)
	}
}

var regexpPass = regexp.MustCompile(`(?m)^disk\.raw\s+provenance\s+verity-root-hash\s+pass`)

type progressFunc func(stage string, done, total int64)

func (f progressFunc) Progress(stage string, done, total int64) { f(stage, done, total) }

func TestBuildFIPS(t *testing.T) {
	spec := demoSpec(t, vm.AWS)
	spec.FIPS = true
	out, err := Build(context.Background(), spec, WithOutputDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if out.FIPS == nil || !out.FIPS.Passed() {
		t.Fatalf("FIPS report: %v", out.FIPS)
	}
	if out.Entry.Ref.Kernel != vm.LTS || !out.Entry.Ref.FIPS {
		t.Errorf("ref %s: FIPS images default to the LTS track", out.Entry.Ref)
	}
	for _, r := range out.Results {
		if !r.Passed() {
			t.Errorf("RequireFIPS policy failed: %v", r.Err())
		}
	}
	if _, err := os.Stat(filepath.Join(out.Dir, builddir.FIPSBundle)); err != nil {
		t.Error(err)
	}
	// Without the signed FIPS report, RequireFIPS refuses the image.
	bb, _ := os.ReadFile(filepath.Join(out.Dir, builddir.BundleFile("disk.raw")))
	bundle, _ := provenance.ParseBundle(bb)
	tm, _ := provenance.ReadTrustedKeyFile(filepath.Join(out.Dir, builddir.PublicKeyFile))
	pol, _ := provenance.NewPolicy(provenance.RequireFIPS(), provenance.WithoutSBOMUnsafe())
	if _, err := provenance.Verify(context.Background(), out.Artifacts[0], bundle, pol, tm); !errors.Is(err, provenance.ErrVerification) {
		t.Fatalf("image without a FIPS report passed RequireFIPS: %v", err)
	}
}

func TestReleasePublishesToLocalCatalog(t *testing.T) {
	spec := demoSpec(t, vm.QEMU, vm.FormatQCOW2)
	store, err := local.Open(filepath.Join(t.TempDir(), "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := local.NewRegistrar(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The demo repository's kernel is a stand-in: the image does not boot,
	// and Release publishes it only when told so (Release publishes
	// through Publish's step: TestPublishFromCopiedDirectory checks the
	// refusal).
	e, err := Release(ctx, spec, WithOutputDir(t.TempDir()), WithStore(store), WithRegistrars(reg), PublishNotBootableUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Locations) == 0 {
		t.Errorf("no location recorded: %+v", e)
	}
	latest, err := store.Latest(ctx, catalog.StreamQuery(e.Ref))
	if err != nil || latest.Ref != e.Ref {
		t.Fatalf("latest %v %v", latest.Ref, err)
	}
	// The same build again is idempotent.
	again, err := Release(ctx, spec, WithOutputDir(t.TempDir()), WithStore(store), WithRegistrars(reg), PublishNotBootableUnsafe())
	if err != nil || again.Ref != e.Ref {
		t.Fatalf("second release: %v %v", again.Ref, err)
	}
}
