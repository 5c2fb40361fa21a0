package catalog_test

import (
	"bytes"
	"context"
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
	unknown := ref(3) // a build of the stream the catalog does not know, older than the target
	unknown.Version.Build = 1
	fleet := []vm.Node{
		{ID: "a", Zone: "z1", Ref: ref(28)}, // same kernel: a small delta
		{ID: "b", Zone: "z1", Ref: ref(12)}, // kernel change
		{ID: "c", Zone: "z2", Ref: ref(5)},  // deprecated, kernel change
		{ID: "d", Zone: "z2", Ref: unknown}, // not in the catalog
		{ID: "e", Zone: "z3", Ref: ref(29)}, // already on the latest
		{ID: "f", Zone: "z3", Ref: ref(28)}, // same image as a
	}
	// A node on a newer image than the catalog's latest (issue 19, bug 4;
	// issue 20): never downgraded, kept and listed in Newer, whatever the
	// options (vm.Plan itself refuses a downgrade unless WithDowngrade).
	ahead := append(slices.Clone(fleet), vm.Node{ID: "g", Zone: "z3", Ref: ref(40)})
	for _, opts := range [][]vm.PlanOption{nil, {vm.WithDowngrade()}} {
		ap, err := catalog.PlanFleet(ctx, s, ahead, opts...)
		if err != nil {
			t.Fatalf("PlanFleet with a node ahead of the catalog: %v", err)
		}
		if !slices.Equal(ap.Streams[0].Newer, []string{"g"}) {
			t.Errorf("Newer = %v, want [g]", ap.Streams[0].Newer)
		}
		for _, wv := range ap.Streams[0].Plan.Waves {
			for _, st := range wv.Steps {
				if st.Node == "g" {
					t.Errorf("node g, ahead of the catalog, is planned: %+v", st)
				}
			}
		}
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

// fixIndex is a security database: package → version that fixed → ids.
type fixIndex map[string]map[string][]string

func (f fixIndex) Fixed(name, from, to string) []string {
	var ids []string
	for v, cs := range f[name] {
		if from != "" && from < v && v <= to { // the fixture's versions compare as strings
			ids = append(ids, cs...)
		}
	}
	return ids
}

// TestPlanFleetNoDowngradeFixesFirst: nodes on a newer image than the
// latest (a 2027 build over a catalog whose newest non-deprecated entry is
// older, as after deprecating a bad build, or an image from elsewhere)
// are kept, not downgraded; a delta that fixes CVEs is replaced before a
// larger one that fixes none; a kernel change before both.
func TestPlanFleetNoDowngradeFixesFirst(t *testing.T) {
	ctx := context.Background()
	s := catalogtest.NewMemStore()
	const stream = "base/aws/x86_64/stable"
	for n := range 12 {
		if _, err := s.Put(ctx, catalogtest.NewEntry(stream, n, 30)); err != nil {
			t.Fatal(err)
		}
	}
	// Build 11 is bad: deprecated, so the target is build 10.
	bad := catalogtest.NewEntry(stream, 11, 30)
	if _, err := s.Deprecate(ctx, bad.Ref, catalog.Deprecation{Time: bad.Published, Reason: "bad build"}); err != nil {
		t.Fatal(err)
	}
	// plain: a build between 9 and 10 that already has pkg0004 1.4.2 (the
	// fix) but older versions of five other packages: a larger delta than
	// build 9's, with no security fix.
	plain := catalogtest.NewEntry(stream, 9, 30)
	plain.Ref.Version.Build = 1
	plain.Ref.Digest = catalogtest.Digest(stream, 109, "raw")
	plain.Artifacts[0].Digest = plain.Ref.Digest
	for i := range plain.Packages {
		switch p := &plain.Packages[i]; p.Name {
		case "pkg0004":
			p.Version = "1.4.2-r0"
		case "pkg0010", "pkg0011", "pkg0012", "pkg0013", "pkg0014":
			p.Version = p.Version[:len(p.Version)-4] + "0-r0"
		}
	}
	if _, err := s.Put(ctx, plain); err != nil {
		t.Fatal(err)
	}
	ref := func(n int) vm.Ref { r := catalogtest.NewEntry(stream, n, 0).Ref; r.Digest = ""; return r }
	plainRef := plain.Ref
	plainRef.Digest = ""
	future := ref(900) // not in the catalog, newer than anything in it
	fleet := []vm.Node{
		{ID: "big", Zone: "z1", Ref: ref(1)},      // many upgrades, no CVE (kernel 6.12.0 → 6.12.1: see below)
		{ID: "cve", Zone: "z1", Ref: ref(9)},      // few upgrades, one fixes a CVE
		{ID: "plain", Zone: "z2", Ref: plainRef},  // more upgrades than cve, no CVE
		{ID: "bad", Zone: "z2", Ref: ref(11)},     // deprecated but newer than the target
		{ID: "future", Zone: "z3", Ref: future},   // newer, unknown
		{ID: "current", Zone: "z3", Ref: ref(10)}, // on the target
	}
	// The fixture bumps pkg i at builds n where (n+i)%7 == 0: from 9 to
	// 10, pkg0004 goes 1.4.1 → 1.4.2. Say that upgrade fixed a CVE.
	fixes := fixIndex{"pkg0004": {"1.4.2-r0": {"CVE-2026-0001"}}}
	fp, err := catalog.PlanFleetFixes(ctx, s, fleet, fixes, vm.WithMaxSurge(1), vm.WithMaxUnavailable(0))
	if err != nil {
		t.Fatal(err)
	}
	sp := fp.Streams[0]
	if sp.Target.Version != ref(10).Version {
		t.Fatalf("target %s, want build 10 (11 is deprecated)", sp.Target.Version)
	}
	if got := strings.Join(sp.Newer, " "); got != "bad future" {
		t.Errorf("newer nodes %q, want bad future", got)
	}
	var order []string
	for _, src := range sp.Sources {
		order = append(order, strings.Join(src.Nodes, "+"))
	}
	if got := strings.Join(order, " "); got != "big cve plain current" {
		t.Errorf("sources by priority: %s, want big cve plain current", got)
	}
	for _, src := range sp.Sources {
		if src.Delta != nil && src.Delta.Downgraded != nil {
			t.Errorf("%v: delta downgrades %v", src.Nodes, src.Delta.Downgraded)
		}
		if src.Nodes[0] == "cve" && (len(src.Delta.Fixes) != 1 || src.Delta.Fixes[0] != "CVE-2026-0001" || src.Priority < catalog.PrioritySecurity) {
			t.Errorf("cve source: fixes %v priority %d", src.Delta.Fixes, src.Priority)
		}
		if src.Nodes[0] == "plain" && (len(src.Delta.Fixes) != 0 || src.Delta.Changed() <= 1) {
			t.Errorf("plain source: fixes %v, %d changed (want none, more than cve's 1)", src.Delta.Fixes, src.Delta.Changed())
		}
	}
	for _, w := range sp.Plan.Waves {
		for _, st := range w.Steps {
			if st.Node == "bad" || st.Node == "future" {
				t.Errorf("plan touches %s, which runs a newer image: %+v", st.Node, st)
			}
		}
	}
	var out bytes.Buffer
	if err := fp.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 fixed: CVE-2026-0001") || !strings.Contains(out.String(), "never downgraded") {
		t.Errorf("table:\n%s", out.String())
	}

	// Only newer nodes: nothing to replace, nothing planned.
	fp, err = catalog.PlanFleet(ctx, s, []vm.Node{{ID: "future", Zone: "z", Ref: future}})
	if err != nil {
		t.Fatal(err)
	}
	if sp := fp.Streams[0]; sp.Plan.Replaced() != 0 || len(sp.Newer) != 1 {
		t.Errorf("plan for a newer node: %d replaced, newer %v", sp.Plan.Replaced(), sp.Newer)
	}
}
