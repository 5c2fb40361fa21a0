package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

var buildSizes = flag.String("build-sizes", "1GiB,8GiB,32GiB", "BenchmarkBuild: the virtual sizes to build")

// BenchmarkQuickstart is the quickstart's whole run: five platforms of the
// demo image built, verified and published to a local catalog.
func BenchmarkQuickstart(b *testing.B) {
	for b.Loop() {
		if err := run(context.Background(), io.Discard, b.TempDir(), config{platforms: platforms}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild builds the quickstart's image (hardvm.Build: install,
// assemble, export, sign, verify; no publish) at each virtual size of
// -build-sizes, for a format whose bytes are the whole disk (Azure's fixed
// VHD) and one that stores only data (qcow2): the first grows with the
// size by its hashing, the second should not grow.
func BenchmarkBuild(b *testing.B) {
	spec, err := vm.ParseSpec(bytes.NewReader(specYAML))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(dir, "repo"), spec.Arch, hardvmtest.DemoRelease(1))
	if err != nil {
		b.Fatal(err)
	}
	spec.Repositories = []vm.Repository{repo}
	signer, err := provenance.NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range strings.Split(*buildSizes, ",") {
		sz, err := vm.ParseByteSize(size)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []target{{vm.Azure, vm.FormatVHD}, {vm.QEMU, vm.FormatQCOW2}} {
			b.Run(size+"/"+string(p.format), func(b *testing.B) {
				s := *spec
				s.Size, s.Platform, s.Formats = sz, p.cloud, []vm.DiskFormat{p.format}
				for b.Loop() {
					out := b.TempDir()
					if _, err := hardvm.Build(context.Background(), s, hardvm.WithOutputDir(out),
						hardvm.WithCacheDir(filepath.Join(dir, "cache")), hardvm.WithSigner(signer)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
