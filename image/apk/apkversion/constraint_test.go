package apkversion_test

import (
	"errors"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

func TestParseOp(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want apkversion.Op
	}{
		{"<", apkversion.OpLess},
		{"<=", apkversion.OpLess | apkversion.OpEqual},
		{"=<", apkversion.OpLess | apkversion.OpEqual},
		{"=", apkversion.OpEqual},
		{"==", apkversion.OpEqual},
		{">=", apkversion.OpGreater | apkversion.OpEqual},
		{">", apkversion.OpGreater},
		{"~", apkversion.OpFuzzy | apkversion.OpEqual},
		{"=~", apkversion.OpFuzzy | apkversion.OpEqual},
		{"<~", apkversion.OpLess | apkversion.OpEqual | apkversion.OpFuzzy},
		{">~", apkversion.OpGreater | apkversion.OpEqual | apkversion.OpFuzzy},
		{"><", apkversion.OpChecksum},
		{"<>", apkversion.OpChecksum},
	} {
		got, err := apkversion.ParseOp(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseOp(%q) = %v (%d), %v; want %v (%d)", tt.in, got, got, err, tt.want, tt.want)
		}
	}
	for _, bad := range []string{"", "!=", "<>=", "~<>", "=!", "x", " ="} {
		if op, err := apkversion.ParseOp(bad); !errors.Is(err, apkversion.ErrConstraint) {
			t.Errorf("ParseOp(%q) = %v, %v; want ErrConstraint", bad, op, err)
		}
	}
}

func TestParseConstraint(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want apkversion.Constraint
		str  string // String(), if not in
	}{
		{"", apkversion.Constraint{Op: apkversion.OpAny}, ""},
		{">=1.2.13", apkversion.Constraint{Op: apkversion.OpGreater | apkversion.OpEqual, Version: "1.2.13"}, ""},
		{"=>1.2.13", apkversion.Constraint{Op: apkversion.OpGreater | apkversion.OpEqual, Version: "1.2.13"}, ">=1.2.13"},
		{"<2.38-r15", apkversion.Constraint{Op: apkversion.OpLess, Version: "2.38-r15"}, ""},
		{"~3.13", apkversion.Constraint{Op: apkversion.OpFuzzy | apkversion.OpEqual, Version: "3.13"}, ""},
		{"=1.0_git20240101~abc123-r2", apkversion.Constraint{Op: apkversion.OpEqual, Version: "1.0_git20240101~abc123-r2"}, ""},
		{"><Q1abc+/=", apkversion.Constraint{Op: apkversion.OpChecksum, Version: "Q1abc+/="}, ""},
		{"><", apkversion.Constraint{Op: apkversion.OpChecksum}, ""},
	} {
		got, err := apkversion.ParseConstraint(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseConstraint(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		want := tt.str
		if want == "" {
			want = tt.in
		}
		if s := got.String(); s != want {
			t.Errorf("ParseConstraint(%q).String() = %q, want %q", tt.in, s, want)
		}
	}
	for _, tt := range []struct {
		in   string
		want error
	}{
		{"1.0", apkversion.ErrConstraint},
		{"!=1.0", apkversion.ErrConstraint},
		{"<>=1.0", apkversion.ErrConstraint},
		{"=", apkversion.ErrVersion},
		{"=x.y", apkversion.ErrVersion},
		{"=1.0=", apkversion.ErrVersion},
		{">= 1.0", apkversion.ErrVersion},
		{"~1.0-beta", apkversion.ErrVersion},
	} {
		if c, err := apkversion.ParseConstraint(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("ParseConstraint(%q) = %+v, %v; want %v", tt.in, c, err, tt.want)
		}
	}
}

func TestConstraintMatch(t *testing.T) {
	for _, tt := range []struct {
		c       string
		yes, no []string
	}{
		{">=1.2", []string{"1.2", "1.10", "1.2-r1", "2"}, []string{"1.1", "1.2_rc1", ""}},
		{"<1.2", []string{"1.1", "1.2_rc1", "1.1.99"}, []string{"1.2", "1.2-r0", "1.10", ""}},
		{"=1.2-r0", []string{"1.2-r0"}, []string{"1.2-r1", "1.2", "1.2.0"}},
		{"~1.2", []string{"1.2", "1.2.9", "1.2-r4", "1.2_p1"}, []string{"1.3", "1.1", "1.20"}},
		{">~1.2", []string{"1.2.9", "1.3"}, []string{"1.1.9"}},
		{"<~1.2", []string{"1.2.9", "1.1"}, []string{"1.3"}},
		{"", []string{"1", "0.99f7", ""}, nil},
		{"><Q1abc=", nil, []string{"Q1abc=", "1.0", ""}},
	} {
		c, err := apkversion.ParseConstraint(tt.c)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range tt.yes {
			if !c.Match(v) {
				t.Errorf("%q does not match %q", tt.c, v)
			}
		}
		for _, v := range tt.no {
			if c.Match(v) {
				t.Errorf("%q matches %q", tt.c, v)
			}
		}
	}
	if !(apkversion.Constraint{}).Match("1.0") || (apkversion.Constraint{}).String() != "" {
		t.Error("the zero Constraint must match every version and print as nothing")
	}
}

// Op.String writes every operator ParseOp returns in a form ParseOp reads
// back to the same operator.
func TestOpStringRoundTrip(t *testing.T) {
	chars := []string{"", "<", ">", "=", "~"}
	for _, a := range chars {
		for _, b := range chars {
			for _, c := range chars {
				op, err := apkversion.ParseOp(a + b + c)
				if err != nil {
					continue
				}
				again, err := apkversion.ParseOp(op.String())
				if err != nil || again != op {
					t.Errorf("ParseOp(%q) = %d, String %q, reparsed %d, %v", a+b+c, op, op.String(), again, err)
				}
			}
		}
	}
}
