package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
)

func init() {
	addCommand(newShowCmd)
	addCommand(newDiffCmd)
}

// openBuild verifies the build directory dir with the trust flags and
// returns it as its signed statements state it.
func openBuild(ctx context.Context, e *env, cmd string, tf *trustFlags, dir string) (*builddir.Build, error) {
	tm, err := tf.trusted(e, cmd, dir)
	if err != nil {
		return nil, err
	}
	b, err := builddir.Open(ctx, dir, nil, tm, builddir.WithRootHashReader(hardvm.RootHashReader))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return b, nil
}

func newShowCmd(e *env) *cobra.Command {
	c := leaf(e, "show", "list an image's packages and facts: of a build directory from its verified signed statements, of a raw disk from its dm-verity-verified root (like apko show-packages)",
		"show [--key KEY.pub | --trusted-root F | --unsafe-key-from-dir] [--bundle DISK.sigstore.json] [--json] DIR|DISK",
		"hardvm show --key ~/keys/release.pub out\n  hardvm show --key ~/keys/release.pub out/disk.raw", func(fs *pflag.FlagSet) runFunc {
			var tf trustFlags
			tf.register(fs)
			asJSON := fs.Bool("json", false, "print the image, its artifacts (or disk facts) and its packages as JSON")
			bundle := fs.String("bundle", "", "DISK only: the disk's signed provenance (default: DISK"+builddir.BundleSuffix+" if it exists); checked with --key or --trusted-root before the disk is read")
			return func(ctx context.Context, args []string) error {
				if len(args) != 1 {
					return usagef("want one build directory or disk, got %d arguments", len(args))
				}
				if fi, err := os.Stat(args[0]); err == nil && !fi.IsDir() {
					return showDisk(ctx, e, &tf, *bundle, *asJSON, args[0])
				}
				if *bundle != "" {
					return usagef("--bundle is for a disk; %s is a build directory", args[0])
				}
				b, err := openBuild(ctx, e, "show", &tf, args[0])
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSONOut(e.stdout, map[string]any{"ref": b.Ref.String(), "dir": b.Dir, "kernel": b.Kernel,
						"bootable": b.Kernel != "", "family": b.Lock.Family, "artifacts": b.Artifacts, "packages": b.Lock.Packages})
				}
				boot := "kernel " + b.Kernel
				if b.Kernel == "" {
					boot = "no kernel: the disks do not boot"
				}
				fmt.Fprintf(e.stdout, "image     %s\nfamily    %s\nboot      %s\nartifacts", b.Ref, b.Lock.Family, boot)
				for _, a := range b.Artifacts {
					fmt.Fprintf(e.stdout, " %s", a.Name())
				}
				fmt.Fprintf(e.stdout, "\npackages  %d\n\n", len(b.Lock.Packages))
				return writePackages(e.stdout, b.Lock.Packages)
			}
		})
	c.Long = `Show lists an image's packages and facts.

DIR, a build directory, is verified first (--key, --trusted-root or
--unsafe-key-from-dir is required) and shown as its signed statements state it.

DISK, a disk as hardvm writes it (disk.raw, a fixed VHD, qcow2, a
streamOptimized VMDK or an OVA; the format is sniffed from its header and
the guest disk read in place, never converted to a temporary file), is read as
the machine would boot it: the GPT, the EFI system partition, the UKI's
command line and its roothash=, then the root file system through dm-verity
verification against that root hash (every block read is checked against
its hash chain first). The package list is the root's APK installed
database. That root hash is the disk's own: it proves what this disk boots,
not who built it. With --key or --trusted-root, the disk's signed provenance
(--bundle, default DISK` + builddir.BundleSuffix + `) is checked against the
disk's digest first, and the root hash it signs must be the UKI's: the
output then says "verified against signed provenance" (the digest is of the
file as given, the qcow2 or OVA itself). Dynamic VHD and GCE tar.gz disks are
refused with the command that makes them raw.`
	return c
}

func writePackages(w io.Writer, pkgs []artifact.Package) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tVERSION\tARCH\tLICENSE")
	for _, p := range pkgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Arch, orDash(p.License))
	}
	return tw.Flush()
}

func newDiffCmd(e *env) *cobra.Command {
	return leaf(e, "diff", "the delta between two build directories: kernel, packages added, removed and changed", "diff (--key KEY.pub | --trusted-root F | --unsafe-key-from-dir) [--json] OLD-DIR NEW-DIR",
		"hardvm diff --key ~/keys/release.pub out-20261123 out-20261124  # catalog refs: hardvm catalog diff", func(fs *pflag.FlagSet) runFunc {
			var tf trustFlags
			tf.register(fs)
			asJSON := fs.Bool("json", false, "print the delta as JSON")
			return func(ctx context.Context, args []string) error {
				if len(args) != 2 {
					return usagef("want two build directories, the old and the new, got %d arguments", len(args))
				}
				var es [2]catalog.Entry
				for i, dir := range args {
					b, err := openBuild(ctx, e, "diff", &tf, dir)
					if err != nil {
						return err
					}
					if es[i], err = catalog.NewEntry(b.Lock, b.Artifacts); err != nil {
						return fmt.Errorf("%s: %w", dir, err)
					}
					es[i].Kernel = b.Kernel
				}
				d := catalog.Diff(es[0], es[1])
				if *asJSON {
					return writeJSONOut(e.stdout, d)
				}
				return d.WriteTable(e.stdout)
			}
		})
}
