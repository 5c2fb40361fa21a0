package apkversion_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// TestVersionVectors runs apk-tools' own version test vectors
// (testdata/version.data, see testdata/README.md), with the semantics of
// its test driver: "v" must be valid, "!v" invalid, "a op b" must hold and
// "a !op b" must not.
func TestVersionVectors(t *testing.T) {
	f, err := os.Open("testdata/version.data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, viaConstraint := 0, 0
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n++
		parts := strings.Fields(s)
		var ok, invert bool
		if len(parts) == 3 {
			op := parts[1]
			invert = strings.HasPrefix(op, "!")
			op = strings.TrimPrefix(op, "!")
			o, err := apkversion.ParseOp(op)
			if err != nil {
				t.Fatalf("line %d: %v", line, err)
			}
			ok = apkversion.Match(parts[0], o, parts[2])
			// The same vector through a parsed constraint.
			c, err := apkversion.ParseConstraint(op + parts[2])
			if err == nil {
				viaConstraint++
			}
			if err == nil && c.Match(parts[0]) != ok {
				t.Errorf("line %d: constraint %q on %q gives %v, Match %v", line, op+parts[2], parts[0], !ok, ok)
			}
		} else {
			v := s
			invert = strings.HasPrefix(v, "!")
			ok = apkversion.Valid(strings.TrimPrefix(v, "!"))
		}
		if ok == invert {
			t.Errorf("line %d: %q does not hold", line, s)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 700 || viaConstraint < 600 {
		t.Fatalf("read only %d vectors, %d of them as constraints", n, viaConstraint)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.0.0", -1},
		{"1.2", "1.10", -1},
		{"1.02", "1.2", -1},
		{"1.0_rc1", "1.0", -1},
		{"1.0_p1", "1.0", 1},
		{"1.0-r1", "1.0-r0", 1},
		{"1.0-r10", "1.0-r9", 1},
		{"2.41-r55", "2.41-r6", 1},
		{"20230201-r23", "20230201-r3", 1},
		{"99999999999999999999999.1", "99999999999999999999998.2", 1}, // beyond uint64
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0b", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			if got := apkversion.Compare(tt.a, tt.b); got != tt.want {
				t.Errorf("apkversion.Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := apkversion.Compare(tt.b, tt.a); got != -tt.want {
				t.Errorf("apkversion.Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestValidVersion(t *testing.T) {
	for _, v := range []string{"1", "1.2.3", "1.2.3a", "1.2_rc1-r0", "2.41-r55", "1.0_git20240101~abc123-r2"} {
		if !apkversion.Valid(v) {
			t.Errorf("apkversion.Valid(%q) = false", v)
		}
	}
	for _, v := range []string{"", "a", "1.", "1.0-r", "1.0-", "1..2", "1.0_foo", "1 .0", "1.0\n"} {
		if apkversion.Valid(v) {
			t.Errorf("apkversion.Valid(%q) = true", v)
		}
	}
}
