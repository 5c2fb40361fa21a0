package factory

import (
	"strings"
	"testing"
)

func TestStreamToken(t *testing.T) {
	for _, s := range []string{"base/aws/x86_64/stable", "nginx/gcp/aarch64/lts/fips", "a.b/c d/*/>/=/", ""} {
		tok := streamToken(s)
		if strings.ContainsAny(tok, " *>") || strings.Contains(tok, "..") {
			t.Errorf("token %q of %q is not a NATS subject part", tok, s)
		}
		for _, c := range tok {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_=.", c)) {
				t.Errorf("token %q of %q is not a key-value key", tok, s)
			}
		}
		if got := streamOf(tok); got != s {
			t.Errorf("streamOf(streamToken(%q)) = %q (token %q)", s, got, tok)
		}
	}
}

func FuzzStreamToken(f *testing.F) {
	f.Add("base/aws/x86_64/stable")
	f.Add("=/=3d/")
	f.Fuzz(func(t *testing.T, s string) {
		if got := streamOf(streamToken(s)); got != s {
			t.Fatalf("round trip of %q gives %q", s, got)
		}
	})
}

func FuzzParseJob(f *testing.F) {
	f.Add([]byte(`{"stream":"base/aws/x86_64/stable","spec":{"variant":"base"},"lock":"sha256:00"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := parseJob(data)
		if err == nil && j.Validate() != nil {
			t.Fatalf("parseJob accepted an invalid job: %s", data)
		}
	})
}
