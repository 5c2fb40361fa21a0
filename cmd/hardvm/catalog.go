package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(func(e *env) *cobra.Command {
		return group("catalog", "query and curate the catalog: list, latest, diff, deprecate, serve, stale, repair",
			"hardvm catalog latest --catalog ~/.hardvm/catalog --variant base --platform aws",
			newCatalogFindCmd(e, "list"), newCatalogFindCmd(e, "latest"), newCatalogDiffCmd(e), newCatalogDeprecateCmd(e), newCatalogServeCmd(e), newCatalogStaleCmd(e), newCatalogRepairCmd(e))
	})
}

// queryFlags registers the query flags and returns a function building the
// query once the flags are parsed.
type queryFlags struct {
	variant, platform, arch, track, fips, region, since, until, asOf *string
	all                                                              *bool
}

func addQueryFlags(fs interface {
	String(string, string, string) *string
	Bool(string, bool, string) *bool
}) queryFlags {
	return queryFlags{
		variant:  fs.String("variant", "", "variant, e.g. base"),
		platform: fs.String("platform", "", "platform, e.g. aws"),
		arch:     fs.String("arch", "", "x86_64 or aarch64"),
		track:    fs.String("track", "", "kernel track: stable or lts"),
		fips:     fs.String("fips", "", "yes: FIPS images only; no: non-FIPS only"),
		region:   fs.String("region", "", "only images registered in this region"),
		since:    fs.String("since", "", "oldest version, YYYYMMDD.hhmmss.N"),
		until:    fs.String("until", "", "newest version, YYYYMMDD.hhmmss.N"),
		asOf:     fs.String("as-of", "", "the catalog as it was at this time (RFC 3339)"),
		all:      fs.Bool("all", false, "include deprecated images"),
	}
}

func (f queryFlags) query() (catalog.Query, error) {
	q := catalog.Query{Variant: *f.variant, Platform: vm.Cloud(*f.platform), Region: *f.region, Kernel: vm.KernelTrack(*f.track), IncludeDeprecated: *f.all}
	if *f.arch != "" {
		a, err := vm.ParseArch(*f.arch)
		if err != nil {
			return q, usagef("--arch: %v", err)
		}
		q.Arch = a
	}
	switch *f.fips {
	case "":
	case "yes", "true":
		q.FIPS = catalog.FIPSOnly
	case "no", "false":
		q.FIPS = catalog.NoFIPS
	default:
		return q, usagef("--fips %q (want yes or no)", *f.fips)
	}
	for _, v := range []struct {
		s   string
		dst *vm.Version
		n   string
	}{{*f.since, &q.MinVersion, "--since"}, {*f.until, &q.MaxVersion, "--until"}} {
		if v.s != "" {
			p, err := vm.ParseVersion(v.s)
			if err != nil {
				return q, usagef("%s: %v", v.n, err)
			}
			*v.dst = p
		}
	}
	if *f.asOf != "" {
		t, err := time.Parse(time.RFC3339, *f.asOf)
		if err != nil {
			return q, usagef("--as-of: %v", err)
		}
		q.AsOf = t
	}
	if err := q.Validate(); err != nil {
		return q, usageError{err}
	}
	return q, nil
}

func newCatalogFindCmd(e *env, sub string) *cobra.Command {
	short := map[string]string{"list": "list the catalog's images a query selects", "latest": "the newest image a query selects (and its delta)"}[sub]
	return leaf(e, "catalog "+sub, short, "catalog "+sub+" --catalog PATH|oci://HOST/REPO [--variant V] [--platform P] [--arch A] [--track T] [--fips yes|no] [--region R] [--since V] [--until V] [--as-of TIME] [--all] [--json]",
		"hardvm catalog "+sub+" --catalog ~/.hardvm/catalog --variant base --platform aws", func(fs *pflag.FlagSet) runFunc {
			cat := fs.String("catalog", "", "the catalog: a directory or oci://HOST/REPO (required)")
			insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
			asJSON := fs.Bool("json", false, "print JSON")
			qf := addQueryFlags(fs)
			var delta *bool
			if sub == "latest" {
				delta = fs.Bool("delta", false, "also print the delta from the previous build of its stream")
			}
			return func(ctx context.Context, args []string) error {
				if fs.NArg() > 0 {
					return usagef("unexpected arguments %v", fs.Args())
				}
				q, err := qf.query()
				if err != nil {
					return err
				}
				store, err := openCatalog(*cat, *insecure)
				if err != nil {
					return err
				}
				defer closeCatalog(store)
				if sub == "list" {
					es, err := store.Find(ctx, q)
					if err != nil {
						return err
					}
					if *asJSON {
						return writeJSONOut(e.stdout, es)
					}
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "STREAM\tVERSION\tKERNEL\tPUBLISHED\tLOCATIONS\tDEPRECATED")
					for _, en := range es {
						dep := "-"
						if en.Deprecation != nil {
							dep = en.Deprecation.Time.UTC().Format(time.DateOnly)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", en.Ref.Stream(), en.Ref.Version, orDash(en.Kernel), en.Published.UTC().Format(time.RFC3339), len(en.Locations), dep)
					}
					return tw.Flush()
				}
				latest, err := store.Latest(ctx, q)
				if err != nil {
					return err
				}
				var d *catalog.Delta
				if *delta {
					pq := catalog.StreamQuery(latest.Ref)
					pq.IncludeDeprecated = true
					pq.MaxVersion = latest.Ref.Version
					if pq.MaxVersion.Build > 0 {
						pq.MaxVersion.Build--
					} else {
						pq.MaxVersion = vm.Version{Epoch: pq.MaxVersion.Epoch - 1, Build: 1 << 30}
					}
					prev, err := store.Latest(ctx, pq)
					switch {
					case err == nil:
						dd := catalog.Diff(prev, latest)
						d = &dd
					case !errors.Is(err, catalog.ErrNotFound):
						return err
					}
				}
				if *asJSON {
					return writeJSONOut(e.stdout, struct {
						Entry catalog.Entry  `json:"entry"`
						Delta *catalog.Delta `json:"delta,omitempty"`
					}{latest, d})
				}
				fmt.Fprintln(e.stdout, latest.Ref)
				printEntry(e.stdout, &latest)
				if d != nil {
					fmt.Fprintln(e.stdout)
					return d.WriteTable(e.stdout)
				} else if *delta {
					fmt.Fprintln(e.stdout, "\nno previous build in this stream")
				}
				return nil
			}
		})
}

// printEntry prints an entry's facts, one per line.
func printEntry(w io.Writer, en *catalog.Entry) {
	fmt.Fprintf(w, "  published  %s\n", en.Published.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  kernel     %s\n  packages   %d\n", orDash(en.Kernel), len(en.Packages))
	for _, a := range en.Artifacts {
		fmt.Fprintf(w, "  artifact   %-6s %s %d bytes %s\n", a.Format, a.Name, a.Size, a.Digest)
	}
	for _, a := range en.Attachments {
		fmt.Fprintf(w, "  %-10s %s\n", a.Kind, a.Digest)
	}
	for _, l := range en.Locations {
		where := string(l.Target)
		if l.Region != "" {
			where += "/" + l.Region
		}
		fmt.Fprintf(w, "  location   %s %s\n", where, l.ID)
	}
	if d := en.Deprecation; d != nil {
		s := "deprecated " + d.Time.UTC().Format(time.RFC3339)
		if d.Replacement != nil {
			s += ", use " + d.Replacement.String()
		}
		if !d.EndOfLife.IsZero() {
			s += ", end of life " + d.EndOfLife.UTC().Format(time.RFC3339)
		}
		if d.Reason != "" {
			s += ": " + d.Reason
		}
		fmt.Fprintf(w, "  %s\n", s)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newCatalogDiffCmd(e *env) *cobra.Command {
	return leaf(e, "catalog diff", "the delta between two images of the catalog", "catalog diff --catalog PATH|oci://HOST/REPO OLD-REF NEW-REF [--json]",
		"hardvm catalog diff --catalog ~/.hardvm/catalog base/aws/x86_64/stable:20261123.000000.0 base/aws/x86_64/stable:20261124.000000.0", func(fs *pflag.FlagSet) runFunc {
			cat := fs.String("catalog", "", "the catalog: a directory or oci://HOST/REPO (required)")
			insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
			asJSON := fs.Bool("json", false, "print the delta as JSON")
			return func(ctx context.Context, args []string) error {
				refs := fs.Args()
				var err error
				if len(refs) != 2 {
					return usagef("diff needs two refs, the old and the new")
				}
				var rs [2]vm.Ref
				for i, s := range refs {
					if rs[i], err = vm.ParseRef(s); err != nil {
						return usagef("%v", err)
					}
				}
				store, err := openCatalog(*cat, *insecure)
				if err != nil {
					return err
				}
				defer closeCatalog(store)
				var es [2]catalog.Entry
				for i, r := range rs {
					if es[i], err = store.Get(ctx, r); err != nil {
						return err
					}
				}
				d := catalog.Diff(es[0], es[1])
				if *asJSON {
					return writeJSONOut(e.stdout, d)
				}
				return d.WriteTable(e.stdout)
			}
		})
}

func newCatalogDeprecateCmd(e *env) *cobra.Command {
	return leaf(e, "catalog deprecate", "deprecate an image (and on its targets)", "catalog deprecate --catalog PATH|oci://HOST/REPO REF [--replacement REF] [--eol TIME] [--reason TEXT] [--time TIME]",
		"hardvm catalog deprecate --catalog ~/.hardvm/catalog base/aws/x86_64/stable:20261123.000000.0 --replacement base/aws/x86_64/stable:20261124.000000.0 --reason CVE-2026-1234", func(fs *pflag.FlagSet) runFunc {
			cat := fs.String("catalog", "", "the catalog: a directory or oci://HOST/REPO (required)")
			insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
			repl := fs.String("replacement", "", "the image to move to (a Ref in the catalog)")
			eol := fs.String("eol", "", "end of life (RFC 3339): it may be deregistered after")
			reason := fs.String("reason", "", "why, e.g. a CVE")
			at := fs.String("time", "", "deprecation time (RFC 3339; default now)")
			var targets listFlag
			fs.Var(&targets, "target", "deprecate on a target too (local:DIR); repeatable")
			asJSON := fs.Bool("json", false, "print the entry as JSON")
			return func(ctx context.Context, args []string) error {
				pos := fs.Args()
				if len(pos) != 1 {
					return usagef("deprecate needs one ref")
				}
				r, err := vm.ParseRef(pos[0])
				if err != nil {
					return usagef("%v", err)
				}
				var d catalog.Deprecation
				d.Reason = *reason
				if *repl != "" {
					rr, err := vm.ParseRef(*repl)
					if err != nil {
						return usagef("--replacement: %v", err)
					}
					d.Replacement = &rr
				}
				for _, t := range []struct {
					s   string
					dst *time.Time
					n   string
				}{{*eol, &d.EndOfLife, "--eol"}, {*at, &d.Time, "--time"}} {
					if t.s != "" {
						if *t.dst, err = time.Parse(time.RFC3339, t.s); err != nil {
							return usagef("%s: %v", t.n, err)
						}
					}
				}
				if d.Time.IsZero() {
					d.Time = time.Now().UTC().Truncate(time.Second) // the CLI is the clock
				}
				store, err := openCatalog(*cat, *insecure)
				if err != nil {
					return err
				}
				defer closeCatalog(store)
				regs, err := openTargets(targets)
				if err != nil {
					return err
				}
				en, err := catalog.Deprecate(ctx, store, r, d, catalog.WithRegistrars(regs...))
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSONOut(e.stdout, en)
				}
				fmt.Fprintf(e.stdout, "deprecated %s\n", en.Ref)
				printEntry(e.stdout, &en)
				return nil
			}
		})
}
