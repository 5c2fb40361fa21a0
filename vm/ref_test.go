package vm

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestRefRoundTrip(t *testing.T) {
	for _, s := range []string{
		"base/aws/x86_64/stable:20261123.104501.0",
		"nginx+fips/azure/aarch64/lts:20250101.000000.12@sha256:" + "ab" + string(make([]byte, 0)) + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd",
	} {
		r, err := ParseRef(s)
		if err != nil {
			t.Fatalf("ParseRef(%q): %v", s, err)
		}
		if r.String() != s {
			t.Errorf("round trip %q -> %q", s, r)
		}
		b, _ := json.Marshal(r)
		var back Ref
		if err := json.Unmarshal(b, &back); err != nil || back != r {
			t.Errorf("json round trip %s: %v %v", b, back, err)
		}
	}
	for _, bad := range []string{
		"", "base", "base/aws/x86_64/stable", "ecs/gcp/x86_64/stable:20261123.104501.0",
		"base/aws/sparc/stable:20261123.104501.0", "base/aws/x86_64/stable:20261399.104501.0",
		"base/aws/x86_64/stable:20261123.104501.01", "base/aws/x86_64/stable:20261123.104501.0@sha256:xyz",
	} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
	if _, err := ParseRef("ecs/gcp/x86_64/stable:20261123.104501.0"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ecs on gcp: %v", err)
	}
}

func TestVersionOrder(t *testing.T) {
	vs := []Version{{Epoch: 200, Build: 1}, {Epoch: 100, Build: 9}, {Epoch: 200, Build: 0}, {Epoch: 100, Build: 10}}
	slices.SortFunc(vs, Version.Compare)
	want := []Version{{100, 9}, {100, 10}, {200, 0}, {200, 1}}
	if !slices.Equal(vs, want) {
		t.Errorf("sorted %v", vs)
	}
	// Text order equals version order for the same build number width.
	a, b := Version{Epoch: 1700000000}, Version{Epoch: 1800000000}
	if !(a.String() < b.String()) {
		t.Errorf("text order %s %s", a, b)
	}
}
