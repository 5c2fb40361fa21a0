package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

// The builds of these tests are stand-ins: their disk files are a few KiB
// of text, not bootable disks, and their package lists are written by hand
// as image.Resolve would write them. Everything else is real: the SBOM,
// the SLSA provenance and the FIPS report are made and signed by
// builddir.Write with an ECDSA key, publishing goes through
// catalog.Publish (verifying with provenance.Verify first) into a real
// store, and the server verifies what it reads back. The quickstart test
// of cmd/hardvm serves real images.

// epoch is the first fixture build: 2026-11-23 00:00:00 UTC.
const epoch = int64(1795392000)

// fixture signs builds with one key.
type fixture struct {
	dir     string // the build directories are under dir
	signer  *provenance.Signer
	keyFile string
	trusted *provenance.TrustedMaterial
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	s, err := provenance.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pub")
	if err := provenance.WritePublicKeyFile(key, s.PublicKey()); err != nil {
		t.Fatal(err)
	}
	tm, err := provenance.TrustKeys(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: filepath.Join(dir, "builds"), signer: s, keyFile: key, trusted: tm}
}

// pkg is a package of a fixture build.
type pkg struct{ name, version, license string }

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// build writes and signs the build of stream at build n (version epoch +
// n days) with pkgs, in a directory of its own, and returns the release
// with every attachment (SBOM, provenance, their bundles, and the FIPS
// report and its bundle for a FIPS stream).
func (f *fixture) build(t testing.TB, stream string, n int, pkgs ...pkg) catalog.Release {
	t.Helper()
	ref, err := vm.ParseRef(stream + ":" + vm.Version{Epoch: epoch + int64(n)*86400}.String())
	if err != nil {
		t.Fatal(err)
	}
	repo := "https://packages.example.test/wolfi/os"
	spec := vm.Spec{Variant: ref.Variant, Platform: ref.Platform, Arch: ref.Arch, Kernel: ref.Kernel, FIPS: ref.FIPS,
		Repositories:    []vm.Repository{{URL: repo, Keys: []string{"wolfi-signing.rsa.pub"}, Family: vm.Wolfi}},
		SourceDateEpoch: ref.Version.Epoch}
	lock := &artifact.Lock{Spec: spec, Arch: ref.Arch, Family: vm.Wolfi, World: []string{"busybox", "openssh-server"},
		Repositories: []artifact.Repository{{URL: repo, Family: vm.Wolfi, IndexDigest: digest.Digest("sha256:" + hexOf(fmt.Sprint("index", n)))}}}
	for _, p := range pkgs {
		lock.Packages = append(lock.Packages, artifact.Package{Name: p.name, Version: p.version, Arch: string(ref.Arch),
			Checksum: "Q1" + hexOf(p.name)[:27] + "=", SHA256: digest.Digest("sha256:" + hexOf(p.name+"-"+p.version)),
			Size: 1000, InstalledSize: int64(4096 * (len(p.name) + len(p.version))), Repository: repo, Origin: p.name,
			License: p.license, Description: "the " + p.name + " package"})
	}
	slices.SortFunc(lock.Packages, func(a, b artifact.Package) int { return strings.Compare(a.Name, b.Name) })

	dir := filepath.Join(f.dir, strings.NewReplacer("/", "_", "+", "_").Replace(stream), fmt.Sprint(n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := hexOf(fmt.Sprint(stream, n, "root"))
	var arts []artifact.Artifact
	for _, format := range []vm.DiskFormat{vm.FormatRaw, vm.FormatQCOW2} {
		p := filepath.Join(dir, "disk"+format.Ext())
		data := bytes.Repeat([]byte(fmt.Sprintf("stand-in %s disk of %s build %d\n", format, stream, n)), 64*(n+1))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := provenance.FileDigest(p)
		if err != nil {
			t.Fatal(err)
		}
		arts = append(arts, artifact.Artifact{Ref: ref, Format: format, Path: p, Size: int64(len(data)), VirtualSize: 1 << 30, Digest: d, RootHash: root})
	}
	for i := range arts {
		arts[i].Ref.Digest = arts[0].Digest
	}
	var report *fips.Report
	if ref.FIPS {
		report = &fips.Report{Scope: fips.DefaultScope(),
			Modules: []fips.Found{{Module: "openssl-fips-provider", Version: "3.1.2-r0", Package: "openssl-provider-fips", Path: "/usr/lib/ossl-modules/fips.so", Certificate: "#4985"}},
			Results: []fips.Result{{Check: fips.CheckProviderModule, Status: fips.Pass, Path: "/usr/lib/ossl-modules/fips.so"}, {Check: fips.CheckJava, Status: fips.NotApplicable}}}
	}
	if err := builddir.Write(context.Background(), dir, builddir.Contents{Lock: lock, Artifacts: arts, FIPS: report}, f.signer); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		kind catalog.AttachmentKind
		name string
	}{{catalog.SBOM, builddir.SBOMFile}, {catalog.Provenance, builddir.ProvenanceFile}, {catalog.Bundle, builddir.BundleFile("disk.raw")},
		{catalog.SBOMBundle, builddir.SBOMBundle}, {catalog.FIPSReport, builddir.FIPSReportFile}, {catalog.FIPSBundle, builddir.FIPSBundle}}
	var atts []catalog.Attachment
	for _, a := range files {
		p := filepath.Join(dir, a.name)
		fi, err := os.Stat(p)
		if os.IsNotExist(err) && report == nil {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := provenance.FileDigest(p)
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, catalog.Attachment{Kind: a.kind, MediaType: a.kind.DefaultMediaType(), Digest: d, Size: fi.Size(), Path: p})
	}
	e, err := catalog.NewEntry(lock, arts, atts...)
	if err != nil {
		t.Fatal(err)
	}
	return catalog.Release{Entry: e, Artifacts: arts}
}

// verifier is what catalog.Publish checks a fixture release with: every
// artifact against the signed bundles, with the fixture's key.
func (f *fixture) verifier() catalog.Verifier {
	return catalog.VerifierFunc(func(ctx context.Context, r *catalog.Release) error {
		read := func(k catalog.AttachmentKind) *provenance.Bundle {
			a, ok := r.Entry.Attachment(k)
			if !ok {
				return nil
			}
			b, err := os.ReadFile(a.Path)
			if err != nil {
				return nil
			}
			pb, _ := provenance.ParseBundle(b)
			return pb
		}
		var more []*provenance.Bundle
		for _, k := range []catalog.AttachmentKind{catalog.SBOMBundle, catalog.FIPSBundle} {
			if b := read(k); b != nil {
				more = append(more, b)
			}
		}
		policy, err := provenance.NewPolicy()
		if err != nil {
			return err
		}
		for _, a := range r.Artifacts {
			if _, err := provenance.Verify(ctx, a, read(catalog.Bundle), policy, f.trusted, more...); err != nil {
				return err
			}
		}
		return nil
	})
}

// publish publishes rel to store, verified, through regs.
func (f *fixture) publish(t testing.TB, store catalog.Store, rel catalog.Release, regs ...catalog.Registrar) catalog.Entry {
	t.Helper()
	opts := []catalog.PublishOption{catalog.WithVerifier(f.verifier())}
	if len(regs) > 0 {
		opts = append(opts, catalog.WithRegistrars(regs...))
	}
	e, err := catalog.Publish(context.Background(), store, rel, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The packages of the fixture streams: build 1 upgrades openssl to 3.5.1
// and adds curl; build 2 moves the kernel.
func basePackages(n int) []pkg {
	ps := []pkg{{"busybox", "1.37.0-r3", "GPL-2.0-only"}, {"ca-certificates-bundle", "20250911-r0", "MPL-2.0 AND MIT"},
		{"linux", "6.12.8-r0", "GPL-2.0-only"}, {"openssh-server", "10.0_p1-r2", "custom"}, {"openssl", "3.5.0-r0", "Apache-2.0"}}
	if n >= 1 {
		ps[4].version = "3.5.1-r0"
		ps = append(ps, pkg{"curl", "8.17.0-r0", "MIT"})
	}
	if n >= 2 {
		ps[2].version = "6.12.9-r0"
	}
	return ps
}

// fixedClock is the servers' clock: ten days after the first build.
func fixedClock() time.Time { return time.Unix(epoch+10*86400, 0).UTC() }
