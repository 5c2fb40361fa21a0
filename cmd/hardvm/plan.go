package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// readFleet reads a fleet file: a JSON array of nodes, or an object with a
// "nodes" array.
func readFleet(path string) ([]vm.Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return nil, err
	}
	var nodes []vm.Node
	if err := json.Unmarshal(data, &nodes); err == nil {
		return nodes, nil
	}
	var obj struct {
		Nodes []vm.Node `json:"nodes"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w (want a JSON array of nodes {id, zone, ref, health})", path, err)
	}
	return obj.Nodes, nil
}

func init() {
	addCommand(newPlanCmd)
}

func newPlanCmd(e *env) *cobra.Command {
	return leaf(e, "plan", "plan the replacement of a fleet's nodes with a target image", "plan --fleet FLEET.json (--target REF | --catalog PATH|oci://HOST/REPO) [--max-surge N] [--max-unavailable N] [--allow-downgrade] [--json]",
		"hardvm plan --fleet fleet.json --catalog ./catalog", func(fs *pflag.FlagSet) runFunc {
			fleetPath := fs.String("fleet", "", "fleet file: JSON array of {id, zone, ref, health}")
			targetS := fs.String("target", "", "the image to replace nodes with (a Ref)")
			cat := fs.String("catalog", "", "plan each stream to its latest image in this catalog, kernel and security changes first")
			insecure := fs.Bool("insecure", false, "with an oci:// catalog: plain HTTP")
			surge := fs.Int("max-surge", 1, "nodes that may exist above the fleet size")
			unavail := fs.Int("max-unavailable", 1, "serving nodes that may be out of service at once")
			asJSON := fs.Bool("json", false, "print the plan as JSON")
			downgrade := fs.Bool("allow-downgrade", false, "with --target: plan even if the target is older than an image a node runs (refused otherwise; with --catalog such nodes are kept and listed, never downgraded)")
			return func(ctx context.Context, args []string) error {
				if *fleetPath == "" || (*targetS == "") == (*cat == "") {
					return usagef("--fleet and one of --target or --catalog are required")
				}
				popts := []vm.PlanOption{vm.WithMaxSurge(*surge), vm.WithMaxUnavailable(*unavail)}
				if *downgrade {
					popts = append(popts, vm.WithDowngrade())
				}
				if *cat != "" {
					fleet, err := readFleet(*fleetPath)
					if err != nil {
						return err
					}
					store, err := openCatalog(*cat, *insecure)
					if err != nil {
						return err
					}
					fp, err := catalog.PlanFleet(ctx, store, fleet, popts...)
					if err != nil {
						return err
					}
					if *asJSON {
						return writeJSONOut(e.stdout, fp)
					}
					return fp.WriteTable(e.stdout)
				}
				target, err := vm.ParseRef(*targetS)
				if err != nil {
					return usagef("--target: %v", err)
				}
				fleet, err := readFleet(*fleetPath)
				if err != nil {
					return err
				}
				p, err := vm.Plan(fleet, target, popts...)
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSONOut(e.stdout, p)
				}
				printPlan(e.stdout, p)
				return nil
			}
		})
}

func printPlan(w io.Writer, p *vm.ReplacementPlan) {
	fmt.Fprintf(w, "target %s: %s\n", p.Target, p)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tACTION\tNODE\tZONE\tIMAGE")
	for i, wv := range p.Waves {
		for _, s := range wv.Steps {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, s.Action, s.Node, s.Zone, s.Ref.Version)
		}
	}
	tw.Flush()
	if n := len(p.Rollback.Waves); n > 0 {
		fmt.Fprintf(w, "rollback: %d waves restore the previous images (hardvm plan --json shows them)\n", n)
	}
}
