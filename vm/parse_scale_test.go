package vm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// validSpecText is a valid spec from testdata, to which the tests below
// append hostile fields.
func validSpecText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/valid/base-aws.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// allocatedBy returns the bytes allocated while f runs.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestParseSpecTypeErrorsScaleLinearly: a spec with n type errors under
// packages costs work in proportion to n. Measured in bytes allocated (not
// time): four times the errors may cost at most eight times the bytes,
// where quadratic work costs sixteen. On the main of issue 17 each error
// sorted every field's line (10,000 errors took 36 s); watched this fail
// there (ratio 14.8).
func TestParseSpecTypeErrorsScaleLinearly(t *testing.T) {
	base := validSpecText(t)
	spec := func(n int) string {
		var b strings.Builder
		for line := range strings.Lines(base) {
			if !strings.HasPrefix(line, "packages:") {
				b.WriteString(line)
			}
		}
		b.WriteString("packages:\n")
		for range n {
			b.WriteString("  - {a: 1}\n")
		}
		return b.String()
	}
	run := func(n int) uint64 {
		text := spec(n)
		return allocatedBy(func() {
			_, err := ParseSpec(strings.NewReader(text))
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrParse) {
				t.Fatalf("err = %v, want type errors", err)
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != n {
				t.Fatalf("%d errors, want %d", got, n)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("packages[%d]", n-1)) {
				t.Fatalf("errors do not name packages[%d]", n-1)
			}
		})
	}
	small, large := run(1000), run(4000)
	if ratio := float64(large) / float64(small); ratio > 8 {
		t.Fatalf("4x the type errors allocated %.1fx the bytes (%d, %d): not linear", ratio, small, large)
	}
}

// TestParseSpecBoundsLabels: a spec of 87,000 labels (which took 39 s on
// the main of issue 17, in the YAML decoder's quadratic duplicate-key
// check, and then validated) is refused with a limit that says what it is,
// before the labels are decoded; Validate holds Go-built specs to the same
// limit. Watched both fail on main (no error).
func TestParseSpecBoundsLabels(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(validSpecText(t))
	b.WriteString("labels:\n")
	for i := range 87000 {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	if b.Len() > MaxSpecSize {
		t.Fatalf("spec of %d bytes is over MaxSpecSize", b.Len())
	}
	_, err := ParseSpec(&b)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "labels" || !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "at most 256") {
		t.Fatalf("err = %v, want a FieldError on labels stating the limit", err)
	}
	s, err := ParseSpec(strings.NewReader(validSpecText(t)))
	if err != nil {
		t.Fatal(err)
	}
	s.Labels = map[string]string{}
	for i := range maxLabels + 1 {
		s.Labels[fmt.Sprint("k", i)] = "v"
	}
	if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "labels") {
		t.Fatalf("Validate: err = %v, want the label limit", err)
	}
	delete(s.Labels, "k0")
	if err := s.Validate(); err != nil {
		t.Fatalf("%d labels: %v", maxLabels, err)
	}
}
