package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/vm"
)

func TestPlanFleet(t *testing.T) {
	ctx := context.Background()
	s := catalogtest.NewMemStore()
	const stream = "base/aws/x86_64/stable"
	// Builds 0..29 of one stream; the kernel changes at build 10 and 20
	// (NewEntry's kernel is 6.12.<n/10>). Build 5 is deprecated.
	for n := range 30 {
		if _, err := s.Put(ctx, catalogtest.NewEntry(stream, n, 20)); err != nil {
			t.Fatal(err)
		}
	}
	dep := catalogtest.NewEntry(stream, 5, 20)
	if _, err := s.Deprecate(ctx, dep.Ref, catalog.Deprecation{Time: dep.Published}); err != nil {
		t.Fatal(err)
	}
	ref := func(n int) vm.Ref { r := catalogtest.NewEntry(stream, n, 0).Ref; r.Digest = ""; return r }
	unknown := ref(3)
	unknown.Version.Build = 9 // a build of an older day the catalog never had
	fleet := []vm.Node{
		{ID: "a", Zone: "z1", Ref: ref(28)}, // same kernel: a small delta
		{ID: "b", Zone: "z1", Ref: ref(12)}, // kernel change
		{ID: "c", Zone: "z2", Ref: ref(5)},  // deprecated, kernel change
		{ID: "d", Zone: "z2", Ref: unknown}, // not in the catalog
		{ID: "e", Zone: "z3", Ref: ref(29)}, // already on the latest
		{ID: "f", Zone: "z3", Ref: ref(28)}, // same image as a
	}
	// A node on a newer image than the catalog's latest (issue 19, bug 4):
	// the plan would downgrade it, and is refused unless asked for.
	ahead := append(slices.Clone(fleet), vm.Node{ID: "g", Zone: "z3", Ref: ref(40)})
	if _, err := catalog.PlanFleet(ctx, s, ahead); !errors.Is(err, vm.ErrDowngrade) {
		t.Fatalf("PlanFleet with a node ahead of the catalog: %v, want vm.ErrDowngrade", err)
	}
	if _, err := catalog.PlanFleet(ctx, s, ahead, vm.WithDowngrade()); err != nil {
		t.Fatalf("PlanFleet with WithDowngrade: %v", err)
	}
	fp, err := catalog.PlanFleet(ctx, s, fleet, vm.WithMaxSurge(1), vm.WithMaxUnavailable(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(fp.Streams) != 1 {
		t.Fatalf("%d stream plans, want 1", len(fp.Streams))
	}
	sp := fp.Streams[0]
	if sp.Target.Version != ref(29).Version {
		t.Fatalf("target %s, want build 29", sp.Target)
	}
	var order []string
	for _, src := range sp.Sources {
		order = append(order, strings.Join(src.Nodes, "+"))
	}
	if got := strings.Join(order, " "); got != "d c b a+f e" {
		t.Errorf("sources by priority: %s, want d c b a+f e", got)
	}
	if sp.Sources[1].Delta == nil || sp.Sources[1].Delta.Kernel == nil || !sp.Sources[1].Deprecated {
		t.Errorf("source c: %+v", sp.Sources[1])
	}
	// Replacement order follows priority: d, c, b, then f and a; e stays.
	var replaced []string
	for _, w := range sp.Plan.Waves {
		for _, st := range w.Steps {
			if st.Action == vm.Terminate {
				replaced = append(replaced, st.Node)
			}
		}
	}
	// (a and f have the same priority: vm.Plan keeps its zone order.)
	if got := strings.Join(replaced, " "); got != "d c b f a" {
		t.Errorf("replacement order %s, want d c b f a", got)
	}
	if len(sp.Plan.Skipped) != 1 || sp.Plan.Skipped[0] != "e" {
		t.Errorf("skipped %v", sp.Plan.Skipped)
	}
	var out bytes.Buffer
	if err := fp.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "not in the catalog") || !strings.Contains(out.String(), "deprecated; kernel 6.12.0-r0 → 6.12.2-r0") {
		t.Errorf("table:\n%s", out.String())
	}

	// A stream with nothing published cannot be planned.
	if _, err := catalog.PlanFleet(ctx, s, []vm.Node{{ID: "x", Zone: "z", Ref: catalogtest.NewEntry("nginx/aws/x86_64/stable", 1, 0).Ref}}); err == nil {
		t.Error("PlanFleet of an unpublished stream succeeded")
	}
}
