// Command quickstart shows hardvm end to end, offline, with embedded
// defaults. It
//
//   - loads the embedded spec and shows the rules of its variant and platform;
//
//   - writes a signed demo APK repository (stand-in packages with Wolfi's
//     names, from package hardvmtest; its kernel is a stand-in, so the
//     images do not boot, and the quickstart says so when it publishes them);
//
//   - builds a base image for QEMU and for each cloud's format (AWS raw, GCE
//     tar.gz, Azure fixed VHD, VMware OVA), the platforms side by side in one
//     hardvm.ReleasePlatforms call: resolve, install, erofs root with
//     dm-verity in a GPT disk, export;
//
//   - writes the SBOM, the SLSA provenance and their Sigstore bundles, signed
//     with an ephemeral key (key.pub beside them), and verifies them;
//
//   - once every platform is built and verified, publishes each to a local
//     catalog (a local registrar copies the disks, checking their digests
//     as it reads them), and prints the delta to the previous run (each run builds
//     the next version of the stream; the second run picks up the demo
//     repository's package updates);
//
//   - plans the replacement of a small fleet with the new image.
//
//     go run ./examples/quickstart [-out DIR]
//
// It prints only the steps it did.
package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

//go:embed spec.yaml
var specYAML []byte

func main() {
	out := flag.String("out", "quickstart-out", "directory the quickstart writes into")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	if err := run(ctx, os.Stdout, *out, config{platforms: platforms}); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
	fmt.Printf("==> done in %s\n", time.Since(start).Round(100*time.Millisecond))
}

// platforms are the targets the quickstart builds for, with the format each
// cloud imports: the platform's first (vm.Platform.Formats), which the
// build writes when the spec names none.
var platforms = []target{
	{vm.QEMU, vm.FormatQCOW2}, {vm.AWS, vm.FormatRaw}, {vm.GCP, vm.FormatGCE}, {vm.Azure, vm.FormatVHD}, {vm.VMware, vm.FormatOVA},
}

// config is what tests change: which platforms to build and the disk size.
type config struct {
	platforms []target
	size      vm.ByteSize // 0: the embedded spec's
}

type target struct {
	cloud  vm.Cloud
	format vm.DiskFormat
}

func run(ctx context.Context, w io.Writer, outDir string, cfg config) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	step := func(format string, args ...any) { fmt.Fprintf(w, "==> "+format+"\n", args...) }

	step("spec: embedded spec.yaml")
	spec, err := vm.ParseSpec(bytes.NewReader(specYAML))
	if err != nil {
		return fmt.Errorf("embedded spec: %w", err)
	}
	variant, _ := vm.LookupVariant(spec.Variant)
	base := vm.BaselineFor(variant.Family)
	fmt.Fprintf(w, "    variant    %s (%s): %s; offered on %s\n", variant.Name, variant.Family, variant.Description, joinS(variant.Platforms))
	fmt.Fprintf(w, "    hardening  %d kernel args, %d sysctls (e.g. %s=%s, %s %s), %d mounts\n",
		len(base.Cmdline), len(base.Sysctls), base.Sysctls[0].Key, base.Sysctls[0].Value,
		base.Sysctls[0].Control.Benchmark, base.Sysctls[0].Control.ID, len(base.Mounts))

	store, err := local.Open(filepath.Join(outDir, "catalog"))
	if err != nil {
		return err
	}
	reg, err := local.NewRegistrar(filepath.Join(outDir, "images"))
	if err != nil {
		return err
	}
	// Each run builds the next version of the stream: find the previous one.
	probe := *spec
	probe.Platform = vm.QEMU
	prev, err := store.Latest(ctx, catalog.StreamQuery(probe.Ref()))
	havePrev := err == nil
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	rel := hardvmtest.DemoRelease(1)
	if havePrev {
		spec.Build = prev.Ref.Version.Build + 1
		rel = 2
	}

	step("repository: signed demo repository (release %d) in %s", rel, filepath.Join(outDir, "repo"))
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(outDir, "repo"), spec.Arch, rel)
	if err != nil {
		return err
	}
	spec.Repositories = []vm.Repository{repo}
	// The spec beside the repository it names: `hardvm build --spec
	// OUT/spec.yaml` builds it again (its paths are relative to the file).
	if err := os.WriteFile(filepath.Join(outDir, "spec.yaml"), specYAML, 0o644); err != nil {
		return err
	}

	// One ephemeral key signs every build of this run; publishing trusts
	// it because this program made it (never because a key.pub lies in the
	// build directory).
	signer, err := provenance.NewSigner()
	if err != nil {
		return err
	}
	trusted, err := provenance.TrustKeys(signer.PublicKey())
	if err != nil {
		return err
	}

	if cfg.size != 0 {
		spec.Size = cfg.size
	}
	// Every platform in one call: the builds run side by side (as many at
	// once as there are CPUs), each into outDir/<platform> in the format
	// its cloud imports (the platform's first), sharing the package cache
	// and the signer; once all are built and verified, each is published,
	// in this order. (`hardvm publish DIR` publishes a directory built
	// elsewhere, verifying it with the key the publisher trusts.)
	spec.Formats = nil
	var clouds []vm.Cloud
	for _, p := range cfg.platforms {
		clouds = append(clouds, p.cloud)
	}
	step("build %s for %s: resolve, install, erofs + dm-verity + GPT, export, SBOM, provenance, sign, verify, publish", spec.Ref(), joinS(clouds))
	// The demo repository's kernel is a stand-in: these images do not
	// boot, and the quickstart publishes them knowingly.
	outs, err := hardvm.ReleasePlatforms(ctx, *spec, clouds, hardvm.WithOutputDir(outDir), hardvm.WithCacheDir(filepath.Join(outDir, "cache")),
		hardvm.WithSigner(signer), hardvm.WithStore(store), hardvm.WithRegistrars(reg), hardvm.WithTrustedMaterial(trusted),
		hardvm.PublishNotBootableUnsafe())
	if err != nil {
		return err
	}
	var rows []row
	var built []catalog.Entry
	for i, out := range outs {
		p := cfg.platforms[i]
		built = append(built, out.Entry)
		for _, a := range out.Artifacts {
			rows = append(rows, row{platform: p.cloud, art: a.Name(), format: a.Format, size: a.Size, digest: string(a.Digest),
				verified: out.Result(a).Passed()})
		}
		if out.Kernel == "" {
			fmt.Fprintf(w, "    %s: published an image that does not boot (PublishNotBootableUnsafe): the demo kernel is a stand-in\n", p.cloud)
		}
		if p.cloud == vm.QEMU {
			fmt.Fprintf(w, "    %d packages, root hash %s\n", len(out.Lock.Packages), out.Disk.RootHash)
			if out.Kernel == "" {
				fmt.Fprintln(w, "    not bootable: the demo repository's kernel package is a stand-in (image/boot's tests boot images built from Debian's kernel)")
			} else {
				fmt.Fprintf(w, "    bootable (kernel %s): go run ./cmd/hardvm run %s\n", out.Kernel, filepath.Join(out.Dir, "disk.qcow2"))
			}
		}
	}

	step("artifacts (signed with an ephemeral key; verify with the key.pub beside them)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    PLATFORM\tARTIFACT\tFORMAT\tSIZE\tSHA-256\tSIGNED\tVERIFIED")
	for _, r := range rows {
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s…\t%s\t%s\n", r.platform, filepath.Join(string(r.platform), r.art), r.format,
			human(r.size), strings.TrimPrefix(r.digest, "sha256:")[:16], "yes", yesNo(r.verified))
	}
	tw.Flush()

	step("catalog: %s", filepath.Join(outDir, "catalog"))
	latest := built[0]
	fmt.Fprintf(w, "    latest %s, %d locations\n", latest.Ref, len(latest.Locations))
	if havePrev {
		d := catalog.Diff(prev, latest)
		var b strings.Builder
		d.WriteTable(&b)
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
	} else {
		fmt.Fprintln(w, "    first build of this stream: run the quickstart again to see the delta to this one")
	}

	step("plan: replace a 4-node fleet with %s (no in-place upgrades)", latest.Ref.Version)
	old := latest.Ref
	old.Digest = ""
	old.Version.Epoch -= 86400
	fleet := []vm.Node{
		{ID: "kvm-1", Zone: "rack-a", Ref: old}, {ID: "kvm-2", Zone: "rack-b", Ref: old},
		{ID: "kvm-3", Zone: "rack-a", Ref: old, Health: vm.Unhealthy}, {ID: "kvm-4", Zone: "rack-b", Ref: latest.Ref},
	}
	plan, err := vm.Plan(fleet, latest.Ref, vm.WithMaxSurge(1), vm.WithMaxUnavailable(1))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "    %s\n", plan)
	for i, wave := range plan.Waves {
		var parts []string
		for _, s := range wave.Steps {
			parts = append(parts, fmt.Sprintf("%s %s", s.Action, s.Node))
		}
		fmt.Fprintf(w, "    wave %d: %s\n", i+1, strings.Join(parts, ", "))
	}
	return nil
}

type row struct {
	platform vm.Cloud
	art      string
	format   vm.DiskFormat
	size     int64
	digest   string
	verified bool
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func joinS[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}
