package fips

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
)

func FuzzParseOpenSSLConfig(f *testing.F) {
	f.Add([]byte(OpenSSLConfig("/etc/ssl/fipsmodule.cnf")))
	f.Add([]byte("[fips_sect]\nactivate = 1\nmodule-mac = 41:9C:38\n"))
	f.Add([]byte("dir = /x\n[a]\nk = $dir/y ${default::dir} $(dir) $ENV::HOME\nq = \"a # b\" 'c' \\\\\ncont = a\\\nb\n.pragma dollarid:on\n"))
	f.Add([]byte("[ bad\n"))
	f.Add([]byte(".include = /etc/ssl/x.cnf\nx::y = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseOpenSSLConfigBytes("/etc/ssl/openssl.cnf", data)
		if err == nil && c.section("default") == nil {
			t.Fatal("parsed config without a default section")
		}
		// The whole check on a root made of the fuzzed config must not
		// panic, and must not pass without a provider module.
		m := fstest.MapFS{"etc/ssl/openssl.cnf": {Data: data}, "etc/ssl/fipsmodule.cnf": {Data: data}}
		r, err := Check(context.Background(), m)
		if err == nil || r.Passed() {
			t.Fatalf("a root without a module passed: %v", r)
		}
	})
}

func FuzzParseProperties(f *testing.F) {
	f.Add([]byte(javaSecurity))
	f.Add([]byte("a=b\\\n  c\nkey\\ with\\ space : v\\u0041\n! comment\n  # comment\nempty\n"))
	f.Add([]byte("bad=\\u12"))
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := ParseProperties("java.security", data)
		if err != nil {
			return
		}
		_ = checkJavaSecurity(props)
	})
}

// FuzzParseInstalled: a hostile installed database gives packages with
// names or a *ParseError, never a panic.
func FuzzParseInstalled(f *testing.F) {
	f.Add([]byte(installedDB))
	f.Add([]byte("P:a\nV:1\nP:b\n"))
	f.Add([]byte("V:1\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := parseInstalled("installed", data)
		if err != nil {
			if _, ok := errors.AsType[*ParseError](err); !ok || !errors.Is(err, ErrParse) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatalf("package without a name: %+v", p)
			}
			_ = versionAtLeast(p.Version, "3.4.0-r2")
		}
	})
}
