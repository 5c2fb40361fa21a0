package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/catalog/local"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// repairOutput is what 'hardvm catalog repair --json' prints.
type repairOutput struct {
	Problem   string   `json:"problem"`
	Entries   int      `json:"entries"`
	Added     []string `json:"added"`
	Rewritten bool     `json:"rewritten"`
	Removed   []string `json:"removed"`
}

// newCatalogRepairCmd is 'hardvm catalog repair': it checks a local
// catalog's index against the entry files (the truth) and rebuilds a
// missing, unreadable or incomplete one (local.Store.Repair), and removes
// what killed writers left in the catalog and in the local:DIR image
// directories named (local.Registrar.Reclaim). It never drops an entry: a
// damaged or missing entry file is an error naming the file.
func newCatalogRepairCmd(e *env) *cobra.Command {
	return leaf(e, "catalog repair", "rebuild a local catalog's index from its entry files; remove what killed writers left",
		"catalog repair --catalog DIR [--target local:DIR]... [--json]",
		"hardvm catalog repair --catalog ~/.hardvm/catalog --target local:/var/lib/hardvm/images", func(fs *pflag.FlagSet) runFunc {
			cat := fs.String("catalog", "", "the catalog directory (required; an OCI catalog keeps no index of its own)")
			var targets listFlag
			fs.Var(&targets, "target", "also remove killed copies from a local image directory (local:DIR); repeatable")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			return func(ctx context.Context, args []string) error {
				switch {
				case len(args) > 0:
					return usagef("unexpected arguments %v", args)
				case *cat == "":
					return usagef("--catalog is required")
				case strings.HasPrefix(*cat, "oci://"):
					return usagef("--catalog %s: an OCI catalog's index is the registry's tag list; only a local catalog is repaired", *cat)
				}
				var dirs []string
				for _, t := range targets {
					dir, ok := strings.CutPrefix(t, "local:")
					if !ok || dir == "" {
						return usagef("--target %s: this command knows local:DIR targets only", t)
					}
					dirs = append(dirs, dir)
				}
				store, err := local.Open(*cat)
				if err != nil {
					return err
				}
				defer store.Close()
				rep, err := store.Repair(ctx)
				if err != nil {
					return err
				}
				out := repairOutput{Problem: rep.Problem, Entries: rep.Entries, Rewritten: rep.Rewritten, Removed: rep.Removed}
				for _, r := range rep.Added {
					out.Added = append(out.Added, r.String())
				}
				for _, dir := range dirs {
					reg, err := local.NewRegistrar(dir)
					if err != nil {
						return fmt.Errorf("--target local:%s: %w", dir, err)
					}
					removed, err := reg.Reclaim(ctx)
					if err != nil {
						return fmt.Errorf("--target local:%s: %w", dir, err)
					}
					out.Removed = append(out.Removed, removed...)
				}
				if *asJSON {
					return writeJSONOut(e.stdout, out)
				}
				switch {
				case out.Problem == "":
					fmt.Fprintf(e.stdout, "index sound: %d entries\n", out.Entries)
				default:
					fmt.Fprintf(e.stdout, "index %s: rebuilt from the entry files, %d entries\n", out.Problem, out.Entries)
				}
				for _, a := range out.Added {
					fmt.Fprintf(e.stdout, "  added %s\n", a)
				}
				for _, r := range out.Removed {
					fmt.Fprintf(e.stdout, "  removed %s (left by a killed writer)\n", r)
				}
				return nil
			}
		})
}
