package apkversion_test

import (
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// FuzzCompare: comparison is antisymmetric and valid versions equal
// themselves.
func FuzzCompare(f *testing.F) {
	f.Add("1.0", "1.0-r1")
	f.Add("1.2_alpha3_p4~abc-r9", "1.2")
	f.Add("0.99f7-r0", "0.99.7")
	f.Add("99999999999999999999999", "1")
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := apkversion.Compare(a, b), apkversion.Compare(b, a)
		if ab != -ba {
			t.Fatalf("Compare(%q,%q)=%d but reverse=%d", a, b, ab, ba)
		}
		if apkversion.Valid(a) && apkversion.Compare(a, a) != 0 {
			t.Fatalf("%q != itself", a)
		}
	})
}

// FuzzParseConstraint: whatever ParseConstraint accepts prints as a
// constraint it reads back the same, and matches as the comparison says.
func FuzzParseConstraint(f *testing.F) {
	f.Add(">=1.2.13", "1.3")
	f.Add("~3.13", "3.13.1-r0")
	f.Add("<~1.2", "1.2.9")
	f.Add("><Q1abc=", "1.0")
	f.Add("=1.0_git20240101~abc123-r2", "1.0")
	f.Add("", "")
	f.Add("<>=1", "1")
	f.Fuzz(func(t *testing.T, s, v string) {
		c, err := apkversion.ParseConstraint(s)
		if err != nil {
			return
		}
		again, err := apkversion.ParseConstraint(c.String())
		if err != nil || again != c {
			t.Fatalf("ParseConstraint(%q) = %+v, String %q reads back as %+v, %v", s, c, c.String(), again, err)
		}
		got := c.Match(v)
		switch {
		case c.Op == apkversion.OpAny:
			if !got {
				t.Fatalf("%q does not match %q", s, v)
			}
		case c.Op == apkversion.OpChecksum || v == "":
			if got {
				t.Fatalf("%q matches %q", s, v)
			}
		case c.Op&apkversion.OpFuzzy == 0:
			r := apkversion.Compare(v, c.Version)
			want := r < 0 && c.Op&apkversion.OpLess != 0 || r == 0 && c.Op&apkversion.OpEqual != 0 || r > 0 && c.Op&apkversion.OpGreater != 0
			if got != want {
				t.Fatalf("%q on %q: %v, but Compare gives %d", s, v, got, r)
			}
		default:
			if apkversion.CompareFuzzy(v, c.Version) == 0 && !got {
				t.Fatalf("%q does not match %q, a fuzzy equal", s, v)
			}
		}
	})
}
