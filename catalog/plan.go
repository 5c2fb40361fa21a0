package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/hardvm/hardvm/vm"
)

// FleetPlan is the replacement of a fleet's nodes with the latest image of
// each node's stream, one [vm.ReplacementPlan] per stream.
type FleetPlan struct {
	Streams []StreamPlan `json:"streams"`
}

// StreamPlan replaces the nodes of one stream with its latest image.
type StreamPlan struct {
	Stream string `json:"stream"`
	Target vm.Ref `json:"target"`
	// Sources are the images the stream's nodes run, with their delta to
	// the target, most urgent first.
	Sources []Source            `json:"sources"`
	Plan    *vm.ReplacementPlan `json:"plan"`
	// Newer are the nodes that run a newer image than the target (one
	// deprecated since, or one the catalog does not know): they are left
	// alone, since replacing them would be a downgrade.
	Newer []string `json:"newer,omitempty"`
}

// Source is one image some nodes run, and what replacing it changes.
type Source struct {
	Ref   vm.Ref   `json:"ref"`
	Nodes []string `json:"nodes"`
	// Delta from this image to the target; nil when the image is not in
	// the catalog (then nothing is known of what it runs).
	Delta      *Delta `json:"delta,omitempty"`
	Deprecated bool   `json:"deprecated,omitempty"`
	// Priority orders replacement: higher first (see [PlanFleet]).
	Priority int `json:"priority"`
}

// Priorities [PlanFleet] gives a node's current image: unknown images
// first, then deprecated ones, then kernel changes, then security fixes
// (issues the delta fixes), then by the number of packages the delta
// changes.
const (
	PriorityUnknown    = 4000
	PriorityDeprecated = 2000
	PriorityKernel     = 1000
	PrioritySecurity   = 500
)

// FixIndex says which security issues upgrading a package fixes; a
// *secdb.DB (package image/apk/secdb) is one.
type FixIndex interface {
	Fixed(name, from, to string) []string
}

// PlanFleet plans the replacement of fleet's nodes from the catalog: for
// each stream (variant, platform, arch, kernel track, FIPS) the fleet runs,
// it finds the latest non-deprecated entry, computes the delta from each
// node's current image to it, and plans the replacement with vm.Plan so
// that the nodes whose delta matters most are replaced first: images the
// catalog does not know, deprecated images, kernel changes, then the
// larger package deltas. A node that runs a newer image than the target is
// never replaced (it is listed in Newer), and a deprecated target is
// refused. opts are passed to vm.Plan.
func PlanFleet(ctx context.Context, store Store, fleet []vm.Node, opts ...vm.PlanOption) (*FleetPlan, error) {
	return PlanFleetFixes(ctx, store, fleet, nil, opts...)
}

// PlanFleetFixes is [PlanFleet] with the deltas' security fixes read from
// fixes (nil: none known): images whose replacement fixes issues come
// after kernel changes and before other package changes.
func PlanFleetFixes(ctx context.Context, store Store, fleet []vm.Node, fixes FixIndex, opts ...vm.PlanOption) (*FleetPlan, error) {
	byStream := map[string][]vm.Node{}
	var streams []string
	for _, n := range fleet {
		s := n.Ref.Stream()
		if _, ok := byStream[s]; !ok {
			streams = append(streams, s)
		}
		byStream[s] = append(byStream[s], n)
	}
	slices.Sort(streams)
	fp := &FleetPlan{}
	for _, s := range streams {
		nodes := byStream[s]
		target, err := store.Latest(ctx, StreamQuery(nodes[0].Ref))
		if err != nil {
			return nil, fmt.Errorf("catalog: plan %s: latest image: %w", s, err)
		}
		if target.Deprecation != nil {
			return nil, fmt.Errorf("%w: plan %s: target %s is deprecated", ErrInvalid, s, target.Ref)
		}
		sp := StreamPlan{Stream: s, Target: target.Ref}
		pri := map[string]int{} // by Ref.String()
		replace := nodes[:0:0]
		for _, n := range nodes {
			if n.Ref.Version.Compare(target.Ref.Version) > 0 {
				sp.Newer = append(sp.Newer, n.ID)
				continue
			}
			replace = append(replace, n)
			key := n.Ref.String()
			if i := slices.IndexFunc(sp.Sources, func(src Source) bool { return src.Ref.String() == key }); i >= 0 {
				sp.Sources[i].Nodes = append(sp.Sources[i].Nodes, n.ID)
				continue
			}
			src := Source{Ref: n.Ref, Nodes: []string{n.ID}}
			cur, err := store.Get(ctx, n.Ref)
			switch {
			case errors.Is(err, ErrNotFound):
				src.Priority = PriorityUnknown
			case err != nil:
				return nil, fmt.Errorf("catalog: plan %s: node %s: %w", s, n.ID, err)
			default:
				d := Diff(cur, target)
				d.AddFixes(fixes)
				src.Delta = &d
				src.Deprecated = cur.Deprecation != nil
				src.Priority = min(d.Changed(), PrioritySecurity-1)
				if len(d.Fixes) > 0 {
					src.Priority += PrioritySecurity
				}
				if d.Kernel != nil {
					src.Priority += PriorityKernel
				}
				if src.Deprecated {
					src.Priority += PriorityDeprecated
				}
			}
			pri[key] = src.Priority
			sp.Sources = append(sp.Sources, src)
		}
		slices.SortStableFunc(sp.Sources, func(a, b Source) int { return cmp.Compare(b.Priority, a.Priority) })
		o := append(slices.Clip(opts), vm.WithPriority(func(n vm.Node) int { return pri[n.Ref.String()] }))
		p, err := vm.Plan(replace, target.Ref, o...)
		if err != nil {
			return nil, fmt.Errorf("catalog: plan %s: %w", s, err)
		}
		sp.Plan = p
		fp.Streams = append(fp.Streams, sp)
	}
	return fp, nil
}

// WriteTable prints the plan: per stream, the target, each source image
// with its delta, and the waves.
func (fp *FleetPlan) WriteTable(w io.Writer) error {
	for i, sp := range fp.Streams {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "stream %s → %s: %s\n", sp.Stream, sp.Target.Version, sp.Plan)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FROM\tNODES\tPRIORITY\tDELTA")
		for _, src := range sp.Sources {
			what := "not in the catalog"
			if src.Delta != nil {
				what = src.Delta.Summary()
			}
			if src.Deprecated {
				what = "deprecated; " + what
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", src.Ref.Version, len(src.Nodes), src.Priority, what)
		}
		for _, id := range sp.Newer {
			fmt.Fprintf(tw, "%s\t1\t-\tnewer than the target: kept, never downgraded\n", id)
		}
		fmt.Fprintln(tw, "WAVE\tACTION\tNODE\tZONE")
		for j, wv := range sp.Plan.Waves {
			for _, st := range wv.Steps {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", j+1, st.Action, st.Node, st.Zone)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
