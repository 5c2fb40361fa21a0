package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(newVariantsCmd)
	addCommand(newPlatformsCmd)
}

func newVariantsCmd(e *env) *cobra.Command {
	return leaf(e, "variants", "list variants, their families and platforms", "variants [--json]", "hardvm variants --json", func(fs *pflag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, args []string) error {
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			vs := vm.Variants()
			if *asJSON {
				return writeJSONOut(e.stdout, vs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VARIANT\tFAMILY\tPLATFORMS\tPACKAGES\tUNITS")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Name, v.Family, join(v.Platforms), strings.Join(v.Packages, ","), strings.Join(v.Units, ","))
			}
			return tw.Flush()
		}
	})
}

func newPlatformsCmd(e *env) *cobra.Command {
	return leaf(e, "platforms", "list platforms, their formats and rules", "platforms [--json]", "hardvm platforms", func(fs *pflag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, args []string) error {
			if fs.NArg() > 0 {
				return usagef("unexpected argument %q", fs.Arg(0))
			}
			ps := vm.Platforms()
			if *asJSON {
				return writeJSONOut(e.stdout, ps)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PLATFORM\tNAME\tFIRMWARE\tFORMATS\tALIGN\tRULES")
			for _, p := range ps {
				rules := make([]string, len(p.Rules))
				for i, r := range p.Rules {
					rules[i] = r.ID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Cloud, p.Name, p.Firmware, join(p.Formats), vm.ByteSize(p.SizeAlign), strings.Join(rules, ","))
			}
			return tw.Flush()
		}
	})
}

func join[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}
