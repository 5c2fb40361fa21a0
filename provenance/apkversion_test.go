package provenance

import (
	"errors"
	"testing"
)

// A denial "<V" catches every version apk-tools orders before V, and ">V"
// every one after.
func TestAPKVersionOrder(t *testing.T) {
	order := []string{"1.0_alpha1", "1.0_beta", "1.0_rc2", "1.0", "1.0-r1", "1.0_p1", "1.0a", "1.0.1", "1.2", "1.10", "2"}
	for i := 0; i+1 < len(order); i++ {
		lt, err1 := parseConstraint("<" + order[i+1])
		gt, err2 := parseConstraint("> " + order[i])
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !lt.matches(order[i]) || lt.matches(order[i+1]) {
			t.Errorf("<%s: %s should match, %s not", order[i+1], order[i], order[i+1])
		}
		if !gt.matches(order[i+1]) || gt.matches(order[i]) {
			t.Errorf(">%s: %s should match, %s not", order[i], order[i+1], order[i])
		}
	}
}

func TestDenyConstraint(t *testing.T) {
	for _, tt := range []struct {
		c       string
		yes, no []string
	}{
		{"*", []string{"1.0", "0.99f7", ""}, nil},
		{"", []string{"1.0"}, nil},
		{"<=3.0.15-r0", []string{"3.0.14-r9", "3.0.15-r0"}, []string{"3.0.15-r1", "3.1"}},
		{" >= 1.38 ", []string{"1.38", "1.38.1-r0"}, []string{"1.37.9"}},
		{"=1.36.1-r2", []string{"1.36.1-r2"}, []string{"1.36.1-r3"}},
		{"!=1.36.1-r2", []string{"1.36.1-r3", "1.0"}, []string{"1.36.1-r2"}},
		{"~3.6", []string{"3.6", "3.6.9-r1"}, []string{"3.7", "3.5.9"}},
		{"<1.0", []string{"not a version", ""}, []string{"1.0"}}, // odd versions never dodge a denial
	} {
		c, err := parseConstraint(tt.c)
		if err != nil {
			t.Fatalf("%q: %v", tt.c, err)
		}
		for _, v := range tt.yes {
			if !c.matches(v) {
				t.Errorf("%q does not match %q", tt.c, v)
			}
		}
		for _, v := range tt.no {
			if c.matches(v) {
				t.Errorf("%q matches %q", tt.c, v)
			}
		}
	}
	for _, bad := range []string{"1.0", "~", "!<1.0", "!=", "<>=1", "><Q1abc=", "=1.0-beta", "**"} {
		if _, err := parseConstraint(bad); !errors.Is(err, ErrInput) {
			t.Errorf("parseConstraint(%q) = %v, want ErrInput", bad, err)
		}
	}
}
