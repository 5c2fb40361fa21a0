package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hardvm/hardvm"
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
	return leaf(e, "show", "list a build's packages and facts, from its verified signed statements (like apko show-packages)", "show (--key KEY.pub | --trusted-root F | --unsafe-key-from-dir) [--json] DIR",
		"hardvm show --key ~/keys/release.pub out", func(fs *pflag.FlagSet) runFunc {
			var tf trustFlags
			tf.register(fs)
			asJSON := fs.Bool("json", false, "print the image, its artifacts and its packages as JSON")
			return func(ctx context.Context, args []string) error {
				if len(args) != 1 {
					return usagef("want one build directory, got %d arguments", len(args))
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
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PACKAGE\tVERSION\tARCH\tLICENSE")
				for _, p := range b.Lock.Packages {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Arch, orDash(p.License))
				}
				return tw.Flush()
			}
		})
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
