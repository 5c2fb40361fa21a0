package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hardvm/hardvm/vm"
)

func runVariants(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "variants", "variants [--json]", "hardvm variants --json")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
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

func runPlatforms(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "platforms", "platforms [--json]", "hardvm platforms")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
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

func join[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}
