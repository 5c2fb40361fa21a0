package vm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseSpec(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: [1, 2\n"))
	f.Add([]byte("variant: &a base\nplatform: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(bytes.NewReader(data))
		if err != nil {
			return
		}
		// A spec that parses and validates survives a round trip.
		b, err := MarshalSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseSpec(bytes.NewReader(b)); err != nil {
			t.Fatalf("re-parse: %v\n%s", err, b)
		}
	})
}

func FuzzParseRef(f *testing.F) {
	f.Add("base/aws/x86_64/stable:20261123.104501.0")
	f.Add("nginx+fips/azure/aarch64/lts:20250101.000000.12")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if r2, err := ParseRef(r.String()); err != nil || r2 != r {
			t.Fatalf("round trip %q: %v %v", s, r2, err)
		}
	})
}
