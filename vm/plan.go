package vm

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// Health is what a fleet reports of a node.
type Health string

// Node health states. Unhealthy and unknown nodes are replaced first: they
// serve nothing, so replacing them costs no availability.
const (
	Healthy   Health = "healthy"
	Unhealthy Health = "unhealthy"
	Unknown   Health = "unknown"
)

// Node is one VM of a fleet.
type Node struct {
	ID     string `json:"id"`
	Zone   string `json:"zone"`
	Ref    Ref    `json:"ref"`
	Health Health `json:"health,omitempty"` // default healthy
}

func (n Node) serving() bool { return n.Health == "" || n.Health == Healthy }

// Action is one kind of step in a replacement plan.
type Action string

// The steps of a replacement: a new node is launched from the target image,
// an old node is drained of its work, then terminated.
const (
	Launch    Action = "launch"
	Drain     Action = "drain"
	Terminate Action = "terminate"
)

// Step is one action on one node. For Launch, Node is the ID of the new
// node and Replaces the node it takes over from; for Drain and Terminate,
// Node is the old node.
type Step struct {
	Action   Action `json:"action"`
	Node     string `json:"node"`
	Zone     string `json:"zone"`
	Ref      Ref    `json:"ref"`
	Replaces string `json:"replaces,omitempty"`
}

// Wave is a group of steps run in order; a wave completes (new nodes
// healthy, old ones gone) before the next starts.
type Wave struct {
	Steps []Step `json:"steps"`
}

// ReplacementPlan replaces every node not already on its target.
type ReplacementPlan struct {
	Target         Ref      `json:"target"`
	MaxUnavailable int      `json:"max_unavailable"`
	MaxSurge       int      `json:"max_surge"`
	Waves          []Wave   `json:"waves"`
	Skipped        []string `json:"skipped,omitempty"` // nodes already on the target
	// Rollback undoes the plan: it replaces each new node with an image of
	// the Ref its old node ran. It has no Rollback of its own.
	Rollback *ReplacementPlan `json:"rollback,omitempty"`
}

// Replaced returns the number of nodes the plan replaces.
func (p *ReplacementPlan) Replaced() int {
	n := 0
	for _, w := range p.Waves {
		for _, s := range w.Steps {
			if s.Action == Terminate {
				n++
			}
		}
	}
	return n
}

// PlanOption configures [Plan].
type PlanOption func(*planOptions) error

type planOptions struct {
	maxUnavailable, maxSurge int
	priority                 func(Node) int
	newID                    func(Node) string
	downgrade                bool
}

// WithDowngrade allows a plan that replaces nodes with an older image than
// they run (a rollback on purpose). Without it, Plan refuses such a plan
// with [ErrDowngrade], naming the node.
func WithDowngrade() PlanOption {
	return func(o *planOptions) error { o.downgrade = true; return nil }
}

// WithMaxUnavailable bounds how many serving nodes may be out of service at
// once (default 1). Zero is allowed with a surge of at least 1.
func WithMaxUnavailable(n int) PlanOption {
	return func(o *planOptions) error {
		if n < 0 {
			return fmt.Errorf("%w: max unavailable %d is negative", ErrPlan, n)
		}
		o.maxUnavailable = n
		return nil
	}
}

// WithMaxSurge bounds how many nodes may exist above the fleet's size at
// once (default 1).
func WithMaxSurge(n int) PlanOption {
	return func(o *planOptions) error {
		if n < 0 {
			return fmt.Errorf("%w: max surge %d is negative", ErrPlan, n)
		}
		o.maxSurge = n
		return nil
	}
}

// WithPriority orders replacement: nodes with a higher priority are
// replaced in earlier waves (after unhealthy nodes). The catalog uses it to
// replace first the nodes whose delta to the target carries kernel or
// security changes.
func WithPriority(f func(Node) int) PlanOption {
	return func(o *planOptions) error { o.priority = f; return nil }
}

// WithNewID names the node that replaces n (default "<id>-next").
func WithNewID(f func(Node) string) PlanOption {
	return func(o *planOptions) error { o.newID = f; return nil }
}

// Plan plans the replacement of fleet's nodes with nodes launched from
// target. Nodes already on target are skipped; a target of another variant,
// platform or arch than a node's image is refused, and so is a target
// older than a node's image unless [WithDowngrade] is given. Each wave replaces up to
// MaxSurge+MaxUnavailable nodes, taken round-robin across zones so that no
// zone is emptied first: it launches up to MaxSurge replacements, drains and
// terminates the old nodes, then launches the rest. So the fleet never has
// more than MaxSurge extra nodes, nor more than MaxUnavailable fewer
// serving ones. The plan carries its reverse as Rollback.
func Plan(fleet []Node, target Ref, opts ...PlanOption) (*ReplacementPlan, error) {
	o := planOptions{maxUnavailable: 1, maxSurge: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.maxUnavailable+o.maxSurge == 0 {
		return nil, fmt.Errorf("%w: max unavailable and max surge are both 0: nothing could ever be replaced", ErrPlan)
	}
	if o.newID == nil {
		o.newID = func(n Node) string { return n.ID + "-next" }
	}
	if err := target.Validate(); err != nil {
		return nil, fmt.Errorf("%w: target %s: %w", ErrPlan, target, err)
	}
	seen := make(map[string]struct{}, len(fleet))
	for _, n := range fleet {
		if n.ID == "" {
			return nil, fmt.Errorf("%w: a node has no id", ErrPlan)
		}
		if _, dup := seen[n.ID]; dup {
			return nil, fmt.Errorf("%w: node %s listed twice", ErrPlan, n.ID)
		}
		seen[n.ID] = struct{}{}
		if !n.Ref.Compatible(target) {
			return nil, fmt.Errorf("%w: node %s runs %s; target %s is another variant, platform or arch: launch a new fleet instead", ErrPlan, n.ID, n.Ref.Stream(), target.Stream())
		}
		if !o.downgrade && n.Ref.Version.Compare(target.Version) > 0 {
			return nil, fmt.Errorf("%w: node %s runs %s, newer than target %s (allow it with WithDowngrade)", ErrDowngrade, n.ID, n.Ref.Version, target.Version)
		}
	}
	p := plan(fleet, func(Node) Ref { return target }, o)
	p.Target = target

	// The rollback replaces every new node with its old node's image.
	var back []Node
	old := map[string]Ref{}
	for _, w := range p.Waves {
		for _, s := range w.Steps {
			if s.Action == Launch {
				back = append(back, Node{ID: s.Node, Zone: s.Zone, Ref: target, Health: Healthy})
			}
		}
	}
	for _, n := range fleet {
		old[o.newID(n)] = n.Ref
	}
	ro := o
	ro.priority = nil
	ro.newID = func(n Node) string { return n.ID + "-rollback" }
	p.Rollback = plan(back, func(n Node) Ref { return old[n.ID] }, ro)
	p.Rollback.Target = Ref{}
	return p, nil
}

// plan does the work of Plan for per-node targets.
func plan(fleet []Node, targetOf func(Node) Ref, o planOptions) *ReplacementPlan {
	p := &ReplacementPlan{MaxUnavailable: o.maxUnavailable, MaxSurge: o.maxSurge}
	type item struct {
		n   Node
		pri int
		idx int
	}
	byZone := map[string][]item{}
	var zones []string
	for i, n := range fleet {
		if sameImage(n.Ref, targetOf(n)) {
			p.Skipped = append(p.Skipped, n.ID)
			continue
		}
		pri := 0
		if o.priority != nil {
			pri = o.priority(n)
		}
		if _, ok := byZone[n.Zone]; !ok {
			zones = append(zones, n.Zone)
		}
		byZone[n.Zone] = append(byZone[n.Zone], item{n, pri, i})
	}
	slices.Sort(zones)
	// Within a zone: not serving first, then higher priority, then fleet order.
	for _, z := range zones {
		slices.SortStableFunc(byZone[z], func(a, b item) int {
			if c := cmp.Compare(boolInt(a.n.serving()), boolInt(b.n.serving())); c != 0 {
				return c
			}
			return cmp.Compare(b.pri, a.pri)
		})
	}
	// Round-robin across zones, then a stable sort keeps unhealthy and
	// high-priority nodes first while preserving the zone interleaving.
	var order []item
	for i := 0; len(order) < len(fleet)-len(p.Skipped); i++ {
		for _, z := range zones {
			if i < len(byZone[z]) {
				order = append(order, byZone[z][i])
			}
		}
	}
	slices.SortStableFunc(order, func(a, b item) int {
		if c := cmp.Compare(boolInt(a.n.serving()), boolInt(b.n.serving())); c != 0 {
			return c
		}
		return cmp.Compare(b.pri, a.pri)
	})

	batch := o.maxSurge + o.maxUnavailable
	for len(order) > 0 {
		k := min(batch, len(order))
		b := order[:k]
		order = order[k:]
		// Unhealthy nodes do not serve, so taking them down costs nothing:
		// the wave may take down maxUnavailable serving nodes plus any
		// number of non-serving ones, but never launch more than maxSurge
		// before the drain.
		pre := min(o.maxSurge, k)
		var w Wave
		launch := func(it item) {
			w.Steps = append(w.Steps, Step{Action: Launch, Node: o.newID(it.n), Zone: it.n.Zone, Ref: targetOf(it.n), Replaces: it.n.ID})
		}
		for _, it := range b[:pre] {
			launch(it)
		}
		for _, it := range b {
			w.Steps = append(w.Steps, Step{Action: Drain, Node: it.n.ID, Zone: it.n.Zone, Ref: it.n.Ref})
		}
		for _, it := range b {
			w.Steps = append(w.Steps, Step{Action: Terminate, Node: it.n.ID, Zone: it.n.Zone, Ref: it.n.Ref})
		}
		for _, it := range b[pre:] {
			launch(it)
		}
		p.Waves = append(p.Waves, w)
	}
	return p
}

// sameImage reports whether a node on r already runs target: the same
// digest when both have one, else the same stream and version.
func sameImage(r, target Ref) bool {
	if r.Digest != "" && target.Digest != "" {
		return r.Digest == target.Digest
	}
	return r.Stream() == target.Stream() && r.Version == target.Version
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// String summarises the plan in one line.
func (p *ReplacementPlan) String() string {
	return "replace " + strconv.Itoa(p.Replaced()) + " nodes in " + strconv.Itoa(len(p.Waves)) +
		" waves (max surge " + strconv.Itoa(p.MaxSurge) + ", max unavailable " + strconv.Itoa(p.MaxUnavailable) +
		"), skip " + strconv.Itoa(len(p.Skipped))
}
