package vm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func ref(variant string, epoch int64) Ref {
	return Ref{Variant: variant, Platform: AWS, Arch: X86_64, Kernel: Stable, Version: Version{Epoch: epoch}}
}

// simulate runs a plan step by step and checks the limits and that every
// node not on the target is replaced exactly once.
func simulate(t *testing.T, fleet []Node, p *ReplacementPlan, target func(Node) Ref) {
	t.Helper()
	type state struct {
		serving, exists bool
		ref             Ref
	}
	nodes := map[string]*state{}
	serving0 := 0
	for _, n := range fleet {
		nodes[n.ID] = &state{serving: n.serving(), exists: true, ref: n.Ref}
		if n.serving() {
			serving0++
		}
	}
	size := len(fleet)
	replaced := map[string]int{}
	launchedFor := map[string]int{}
	for wi, w := range p.Waves {
		for si, s := range w.Steps {
			switch s.Action {
			case Launch:
				if _, dup := nodes[s.Node]; dup {
					t.Fatalf("wave %d step %d: launches existing node %s", wi, si, s.Node)
				}
				nodes[s.Node] = &state{serving: true, exists: true, ref: s.Ref}
				launchedFor[s.Replaces]++
			case Drain:
				n := nodes[s.Node]
				if n == nil || !n.exists {
					t.Fatalf("wave %d: drains unknown node %s", wi, s.Node)
				}
				n.serving = false
			case Terminate:
				n := nodes[s.Node]
				if n == nil || !n.exists || n.serving {
					t.Fatalf("wave %d: terminates %s which is unknown, gone or not drained", wi, s.Node)
				}
				n.exists = false
				replaced[s.Node]++
			}
			total, serving := 0, 0
			for _, n := range nodes {
				if n.exists {
					total++
				}
				if n.exists && n.serving {
					serving++
				}
			}
			if total > size+p.MaxSurge {
				t.Fatalf("wave %d step %d: %d nodes exist, limit %d+%d", wi, si, total, size, p.MaxSurge)
			}
			if serving < serving0-p.MaxUnavailable {
				t.Fatalf("wave %d step %d: %d serving, limit %d-%d", wi, si, serving, serving0, p.MaxUnavailable)
			}
		}
	}
	for _, n := range fleet {
		want := 1
		if sameImage(n.Ref, target(n)) {
			want = 0
		}
		if replaced[n.ID] != want || launchedFor[n.ID] != want {
			t.Fatalf("node %s: replaced %d times, replacement launched %d times, want %d", n.ID, replaced[n.ID], launchedFor[n.ID], want)
		}
	}
}

func randomFleet(r *rand.Rand, n int, target Ref) []Node {
	zones := []string{"a", "b", "c", "d"}[:1+r.IntN(4)]
	fleet := make([]Node, n)
	for i := range fleet {
		ref := ref("base", int64(1000+r.IntN(3)))
		if r.IntN(5) == 0 {
			ref = target
		}
		h := Healthy
		switch r.IntN(8) {
		case 0:
			h = Unhealthy
		case 1:
			h = Unknown
		}
		fleet[i] = Node{ID: fmt.Sprintf("i-%04d", i), Zone: zones[r.IntN(len(zones))], Ref: ref, Health: h}
	}
	return fleet
}

func TestPlanProperties(t *testing.T) {
	target := ref("base", 2000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		fleet := randomFleet(r, r.IntN(40), target)
		surge, unavail := r.IntN(4), r.IntN(4)
		if surge+unavail == 0 {
			unavail = 1
		}
		p, err := Plan(fleet, target, WithMaxSurge(surge), WithMaxUnavailable(unavail))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		simulate(t, fleet, p, func(Node) Ref { return target })
		// The rollback, run on the fleet the plan leaves, restores every
		// replaced node's image within the same limits.
		var after []Node
		old := map[string]Ref{}
		for _, n := range fleet {
			old[n.ID+"-next"] = n.Ref
		}
		for _, w := range p.Waves {
			for _, s := range w.Steps {
				if s.Action == Launch {
					after = append(after, Node{ID: s.Node, Zone: s.Zone, Ref: s.Ref})
				}
			}
		}
		simulate(t, after, p.Rollback, func(n Node) Ref { return old[n.ID] })
	}
}

func TestPlanSkipsAndSpreads(t *testing.T) {
	target := ref("base", 2000)
	fleet := []Node{
		{ID: "a1", Zone: "a", Ref: ref("base", 1000)},
		{ID: "a2", Zone: "a", Ref: ref("base", 1000)},
		{ID: "b1", Zone: "b", Ref: ref("base", 1000)},
		{ID: "b2", Zone: "b", Ref: target},
		{ID: "c1", Zone: "c", Ref: ref("base", 1000), Health: Unhealthy},
	}
	p, err := Plan(fleet, target, WithMaxSurge(1), WithMaxUnavailable(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Skipped) != 1 || p.Skipped[0] != "b2" {
		t.Errorf("skipped %v, want [b2]", p.Skipped)
	}
	if p.Replaced() != 4 || len(p.Waves) != 2 {
		t.Errorf("%s", p)
	}
	// The unhealthy node goes first; the first wave spans two zones.
	first := p.Waves[0].Steps
	if first[0].Replaces != "c1" {
		t.Errorf("first launch replaces %s, want the unhealthy c1", first[0].Replaces)
	}
	zones := map[string]bool{}
	for _, s := range first {
		zones[s.Zone] = true
	}
	if len(zones) < 2 {
		t.Errorf("first wave stays in zones %v", zones)
	}
}

func TestPlanRefuses(t *testing.T) {
	target := ref("base", 2000)
	for name, tc := range map[string]struct {
		fleet []Node
		opts  []PlanOption
	}{
		"other variant": {fleet: []Node{{ID: "x", Ref: ref("nginx", 1)}}},
		"other arch":    {fleet: []Node{{ID: "x", Ref: Ref{Variant: "base", Platform: AWS, Arch: Aarch64, Kernel: Stable}}}},
		"duplicate id":  {fleet: []Node{{ID: "x", Ref: ref("base", 1)}, {ID: "x", Ref: ref("base", 1)}}},
		"no id":         {fleet: []Node{{Ref: ref("base", 1)}}},
		"no progress":   {fleet: []Node{{ID: "x", Ref: ref("base", 1)}}, opts: []PlanOption{WithMaxSurge(0), WithMaxUnavailable(0)}},
		"negative":      {fleet: nil, opts: []PlanOption{WithMaxSurge(-1)}},
		"downgrade":     {fleet: []Node{{ID: "a", Ref: ref("base", 1)}, {ID: "x", Ref: ref("base", 3000)}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Plan(tc.fleet, target, tc.opts...); !errors.Is(err, ErrPlan) {
				t.Fatalf("want ErrPlan, got %v", err)
			}
		})
	}
	// Issue 19, bug 4: an older target than a node runs is refused, naming
	// the node, unless asked for.
	newer := []Node{{ID: "a", Ref: ref("base", 1)}, {ID: "x", Ref: ref("base", 3000)}}
	if _, err := Plan(newer, target); !errors.Is(err, ErrDowngrade) || !strings.Contains(err.Error(), "node x") {
		t.Fatalf("downgrade: %v, want ErrDowngrade naming node x", err)
	}
	if p, err := Plan(newer, target, WithDowngrade()); err != nil || p.Replaced() != 2 {
		t.Fatalf("downgrade allowed: %v, %v", p, err)
	}
	if _, err := Plan(nil, Ref{Variant: "nope"}); !errors.Is(err, ErrPlan) || !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown target variant: %v", err)
	}
}

func TestPlanPriority(t *testing.T) {
	target := ref("base", 2000)
	fleet := []Node{{ID: "low", Ref: ref("base", 1000)}, {ID: "high", Ref: ref("base", 1500)}}
	p, err := Plan(fleet, target, WithMaxSurge(1), WithMaxUnavailable(0),
		WithPriority(func(n Node) int {
			if n.ID == "high" {
				return 10
			}
			return 0
		}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Waves[0].Steps[0].Replaces != "high" {
		t.Errorf("priority ignored: first wave %+v", p.Waves[0].Steps)
	}
}

func BenchmarkPlan10k(b *testing.B) {
	target := ref("base", 2000)
	fleet := randomFleet(rand.New(rand.NewPCG(3, 4)), 10000, target)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Plan(fleet, target, WithMaxSurge(50), WithMaxUnavailable(25)); err != nil {
			b.Fatal(err)
		}
	}
}
