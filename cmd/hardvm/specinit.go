package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardvm/hardvm/vm"
)

// repoDefaults are the public repositories of each family a starter spec
// names.
var repoDefaults = map[vm.RepositoryFamily]vm.Repository{
	vm.Wolfi:      {URL: "https://packages.wolfi.dev/os", Keys: []string{"https://packages.wolfi.dev/os/wolfi-signing.rsa.pub"}, Family: vm.Wolfi},
	vm.Chainguard: {URL: "https://apk.cgr.dev/chainguard", Keys: []string{"https://apk.cgr.dev/chainguard/chainguard.rsa.pub"}, Family: vm.Chainguard},
}

var starterSpec = template.Must(template.New("spec").Parse(`# hardvm image spec: {{.Variant.Name}} ({{.Variant.Description}}) for {{.Platform.Name}}.
# Check it with 'hardvm spec validate {{.File}}', build it with
# 'hardvm build --spec {{.File}} --out out'. Editors complete and check it with
# the JSON Schema 'hardvm spec schema' prints. Relative paths in this file
# are relative to this file.

# What the image is: one of 'hardvm variants', for one of 'hardvm platforms'.
variant: {{.Variant.Name}}
platform: {{.Platform.Cloud}}
arch: {{.Arch}}                # {{.Platform.Cloud}} runs {{.Arches}}
# kernel: stable             # stable or lts (default: lts with fips, else stable)
# fips: true                 # kernel-independent FIPS: a validated user-space module

# The APK repositories the image is built from, all of one family (Wolfi or
# Chainguard OS, never both). keys are the public keys that sign each index.
repositories:
  - url: {{.Repo.URL}}
    keys: [{{index .Repo.Keys 0}}]
    family: {{.Repo.Family}}

# packages: [curl]           # APK world entries added to the variant's
formats: [{{.Format}}]           # disk formats; {{.Platform.Cloud}} accepts {{.Formats}}

# The build's only clock (Unix seconds): file times, versions and signatures
# derive from it, so the same inputs give the same bytes. Use the commit time:
# git log -1 --format=%ct
source_date_epoch: {{.Epoch}}
size: 2GiB                   # virtual disk size

# Users log in with SSH keys only; a key given at boot (cloud metadata, a
# NoCloud seed) works too.
# users:
#   - name: ops
#     ssh_keys: ["ssh-ed25519 AAAA... ops@example"]
#     sudo: true

# cmdline: [console=ttyS0]   # extra kernel arguments
# labels: {team: platform}
`))

func init() {
	addSpecCommand(newSpecInitCmd)
}

func newSpecInitCmd(e *env) *cobra.Command {
	return leaf(e, "spec init", "write a commented starter spec for a variant and platform", "spec init [--arch A] [--family wolfi|chainguard] [--source-date-epoch N] [--out FILE] VARIANT PLATFORM",
		"hardvm spec init base qemu --out base-qemu.yaml", func(fs *pflag.FlagSet) runFunc {
			arch := fs.String("arch", "", "architecture (default: the platform's first)")
			family := fs.String("family", string(vm.Wolfi), "repository family: wolfi or chainguard")
			epoch := fs.Int64("source-date-epoch", 0, "the build's clock in Unix seconds (default: the start of today, UTC)")
			out := fs.String("out", "", "write the spec to FILE (refuses to overwrite one) instead of stdout")
			return func(ctx context.Context, args []string) error {
				if len(args) != 2 {
					return usagef("want VARIANT and PLATFORM, got %d arguments (see 'hardvm variants' and 'hardvm platforms')", len(args))
				}
				v, err := vm.LookupVariant(args[0])
				if err != nil {
					return usagef("%v (one of %s)", err, strings.Join(vm.VariantNames(), ", "))
				}
				p, err := vm.LookupPlatform(vm.Cloud(args[1]))
				if err != nil {
					return usagef("%v", err)
				}
				if !v.OffersOn(p.Cloud) {
					return usagef("variant %s is not offered on %s (it is on %s)", v.Name, p.Cloud, join(v.Platforms))
				}
				a := p.Arches[0]
				if *arch != "" {
					if a, err = vm.ParseArch(*arch); err != nil {
						return usagef("--arch: %v", err)
					}
					if !slices.Contains(p.Arches, a) {
						return usagef("--arch %s: %s runs %s", a, p.Cloud, join(p.Arches))
					}
				}
				repo, ok := repoDefaults[vm.RepositoryFamily(*family)]
				if !ok {
					return usagef("--family %q: want wolfi or chainguard", *family)
				}
				ep := *epoch
				if ep == 0 {
					ep = time.Now().UTC().Truncate(24 * time.Hour).Unix()
				}
				file := *out
				if file == "" {
					file = "spec.yaml"
				}
				data := map[string]any{"Variant": v, "Platform": p, "Arch": a, "Arches": join(p.Arches), "Repo": repo,
					"Format": p.Formats[0], "Formats": join(p.Formats), "Epoch": ep, "File": file}
				if *out == "" {
					return starterSpec.Execute(e.stdout, data)
				}
				f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					return err
				}
				if err := writeClose(f, func(w io.Writer) error { return starterSpec.Execute(w, data) }); err != nil {
					os.Remove(*out)
					return err
				}
				fmt.Fprintf(e.stderr, "hardvm spec init: wrote %s; check it with 'hardvm spec validate %s'\n", *out, *out)
				return nil
			}
		})
}

// writeClose writes to f with write, syncs and closes it.
func writeClose(f *os.File, write func(io.Writer) error) error {
	err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
