package hardvm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// Two platforms built one at a time and two at once give the same bytes
// (the disks' digests, checked by reading them), in the platforms' order,
// each in its own directory; ReleasePlatforms publishes them in that order.
func TestReleasePlatformsParallelSameBytes(t *testing.T) {
	spec := demoSpec(t, vm.QEMU, vm.FormatQCOW2)
	platforms := []vm.Cloud{vm.QEMU, vm.Azure}
	signer, err := provenance.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	seqDir := t.TempDir()
	rec := &stageRecorder{}
	seq, err := BuildPlatforms(context.Background(), spec, platforms, WithOutputDir(seqDir), WithSigner(signer),
		WithParallelism(1), WithProgress(rec))
	if err != nil {
		t.Fatal(err)
	}
	store, err := local.Open(filepath.Join(t.TempDir(), "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	parDir := t.TempDir()
	par, err := ReleasePlatforms(context.Background(), spec, platforms, WithOutputDir(parDir), WithSigner(signer),
		WithParallelism(2), WithStore(store), PublishNotBootableUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	if len(seq) != 2 || len(par) != 2 {
		t.Fatalf("%d outputs, %d released", len(seq), len(par))
	}
	wantFormats := [][]vm.DiskFormat{{vm.FormatRaw, vm.FormatQCOW2}, {vm.FormatRaw, vm.FormatVHD}}
	for i, p := range platforms {
		out, e := seq[i], par[i].Entry
		if out.Dir != PlatformDir(seqDir, p) || par[i].Dir != PlatformDir(parDir, p) || e.Ref.Platform != p || out.Entry.Ref.Platform != p {
			t.Errorf("%d: dirs %s %s, entry %s, output %s: want %s", i, out.Dir, par[i].Dir, e.Ref, out.Entry.Ref, p)
		}
		if len(e.Locations) != 0 {
			t.Errorf("%s: locations %v without a registrar", p, e.Locations)
		}
		if len(out.Artifacts) != len(wantFormats[i]) || len(e.Artifacts) != len(wantFormats[i]) {
			t.Fatalf("%s: artifacts %v / %v", p, out.Artifacts, e.Artifacts)
		}
		for j, a := range out.Artifacts {
			if a.Format != wantFormats[i][j] {
				t.Errorf("%s: artifact %d is %s, want %s", p, j, a.Format, wantFormats[i][j])
			}
			// Read both files again: the same bytes.
			other := filepath.Join(PlatformDir(parDir, p), filepath.Base(a.Path))
			d1, err1 := provenance.FileDigestContext(context.Background(), a.Path)
			d2, err2 := provenance.FileDigestContext(context.Background(), other)
			if err1 != nil || err2 != nil || d1 != a.Digest || d2 != d1 || e.Artifacts[j].Digest != d1 {
				t.Errorf("%s %s: sequential %s (recorded %s), parallel %s (entry %s): %v %v", p, a.Format, d1, a.Digest, d2, e.Artifacts[j].Digest, err1, err2)
			}
		}
	}
	// Published in the platforms' order: the store lists both.
	for _, p := range platforms {
		probe := spec
		probe.Platform = p
		if _, err := store.Latest(context.Background(), catalog.StreamQuery(probe.Ref())); err != nil {
			t.Errorf("%s not in the catalog: %v", p, err)
		}
	}
	// Progress names each stage with its platform.
	for _, p := range platforms {
		if !rec.has(string(p) + ": export ") {
			t.Errorf("no export progress for %s in %v", p, rec.list())
		}
	}
}

// The first build that fails stops the others; the error names the
// platform and the step; nothing half-written stays in any directory, and
// nothing is published.
func TestReleasePlatformsFirstFailureStops(t *testing.T) {
	spec := demoSpec(t, vm.QEMU, vm.FormatQCOW2)
	out := t.TempDir()
	// Azure's build cannot make its directory: a file is in the way.
	if err := os.WriteFile(PlatformDir(out, vm.Azure), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := local.Open(filepath.Join(t.TempDir(), "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	released, err := ReleasePlatforms(context.Background(), spec, []vm.Cloud{vm.QEMU, vm.Azure, vm.VMware}, WithOutputDir(out),
		WithParallelism(2), WithStore(store), PublishNotBootableUnsafe())
	var pe *PlatformError
	var se *StepError
	if !errors.As(err, &pe) || pe.Platform != vm.Azure || !errors.As(err, &se) || se.Step != "output" || !errors.Is(err, ErrRelease) {
		t.Fatalf("error %v: want azure's output step", err)
	}
	if strings.Contains(err.Error(), "qemu") || strings.Contains(err.Error(), "vmware") {
		t.Errorf("a build stopped by another's failure is reported as failed: %v", err)
	}
	if len(released) != 0 {
		t.Errorf("published %v after a failed build", released)
	}
	if _, err := store.Latest(context.Background(), catalog.StreamQuery(spec.Ref())); err == nil {
		t.Error("qemu was published although azure failed")
	}
	filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err == nil && (strings.Contains(d.Name(), ".tmp-") || strings.HasSuffix(d.Name(), ".partial")) {
			t.Errorf("half-written file left: %s", path)
		}
		return nil
	})
}

// Every platform's spec is checked before any build starts, and every one
// that does not hold is reported.
func TestBuildPlatformsChecksEveryPlatformFirst(t *testing.T) {
	spec := specOnly(vm.QEMU, vm.FormatQCOW2)
	out := t.TempDir()
	_, err := BuildPlatforms(context.Background(), spec, []vm.Cloud{vm.QEMU, "nowhere", "elsewhere"}, WithOutputDir(out))
	for _, p := range []vm.Cloud{"nowhere", "elsewhere"} {
		if !strings.Contains(err.Error(), string(p)+": ") {
			t.Errorf("error %v does not report %s", err, p)
		}
	}
	var pe *PlatformError
	var se *StepError
	if !errors.As(err, &pe) || !errors.As(err, &se) || se.Step != "spec" {
		t.Errorf("error %v: want a spec PlatformError", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a build started: %v", ents)
	}
	for _, c := range []struct {
		platforms []vm.Cloud
		opts      []Option
		want      string
	}{
		{nil, nil, "no platforms"},
		{[]vm.Cloud{vm.QEMU, vm.QEMU}, nil, "twice"},
		{[]vm.Cloud{vm.QEMU}, []Option{WithParallelism(0)}, "parallelism 0"},
	} {
		_, err := BuildPlatforms(context.Background(), spec, c.platforms, append(c.opts, WithOutputDir(out))...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrRelease) {
			t.Errorf("%v %d options: error %v, want %q", c.platforms, len(c.opts), err, c.want)
		}
	}
	if _, err := ReleasePlatforms(context.Background(), spec, []vm.Cloud{vm.QEMU}, WithOutputDir(out)); err == nil || !strings.Contains(err.Error(), "WithStore") {
		t.Errorf("ReleasePlatforms without a store: %v", err)
	}
}

// A cancelled context stops every build and says so.
func TestBuildPlatformsCancelled(t *testing.T) {
	spec := specOnly(vm.QEMU, vm.FormatQCOW2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	outs, err := BuildPlatforms(ctx, spec, []vm.Cloud{vm.QEMU, vm.Azure}, WithOutputDir(t.TempDir()))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrRelease) {
		t.Fatalf("error %v, want the cancellation", err)
	}
	for _, o := range outs {
		if o != nil {
			t.Errorf("output %+v of a cancelled run", o)
		}
	}
}

// PlatformSpec keeps the formats the platform accepts, else its default.
func TestPlatformSpec(t *testing.T) {
	spec := specOnly(vm.QEMU, vm.FormatQCOW2, vm.FormatRaw)
	for _, c := range []struct {
		p    vm.Cloud
		want []vm.DiskFormat
	}{
		{vm.QEMU, []vm.DiskFormat{vm.FormatQCOW2, vm.FormatRaw}},
		{vm.AWS, []vm.DiskFormat{vm.FormatRaw}},
		{vm.Azure, []vm.DiskFormat{vm.FormatVHD}},
		{vm.GCP, []vm.DiskFormat{vm.FormatGCE}},
	} {
		s, err := PlatformSpec(spec, c.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.DiskFormats(); s.Platform != c.p || !equalFormats(got, c.want) {
			t.Errorf("%s: %s %v, want %v", c.p, s.Platform, got, c.want)
		}
	}
	if _, err := PlatformSpec(spec, "nowhere"); err == nil {
		t.Error("unknown platform accepted")
	}
}

// specOnly is a valid spec for tests that build nothing: its repository
// is never read.
func specOnly(platform vm.Cloud, formats ...vm.DiskFormat) vm.Spec {
	return vm.Spec{Variant: "base", Platform: platform, Arch: vm.X86_64, SourceDateEpoch: 1763856000,
		Repositories: []vm.Repository{{URL: "https://packages.example.invalid/os", Keys: []string{"/nonexistent/key.rsa.pub"}, Family: "wolfi"}},
		Formats:      formats, Size: 256 << 20}
}

func equalFormats(a, b []vm.DiskFormat) bool {
	return strings.Join(formatStrings(a), ",") == strings.Join(formatStrings(b), ",")
}

func formatStrings(fs []vm.DiskFormat) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

// stageRecorder records the stages reported, safe for the builds running
// at once.
type stageRecorder struct {
	mu     sync.Mutex
	stages map[string]bool
}

func (r *stageRecorder) Progress(stage string, done, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stages == nil {
		r.stages = map[string]bool{}
	}
	r.stages[stage] = true
}

func (r *stageRecorder) has(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.stages {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func (r *stageRecorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for s := range r.stages {
		out = append(out, s)
	}
	return out
}
