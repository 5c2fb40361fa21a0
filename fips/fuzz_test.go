package fips

import (
	"context"
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

func FuzzParseInstalled(f *testing.F) {
	f.Add([]byte(installedDB))
	f.Add([]byte("P:a\nV:1\nP:b\n"))
	f.Add([]byte("V:1\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseInstalled("installed", data)
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatalf("package without a name: %+v", p)
			}
			_ = compareVersions(p.Version, "3.4.0-r2")
		}
	})
}

func FuzzCompareVersions(f *testing.F) {
	f.Add("3.4.0-r2", "3.4.0-r10")
	f.Add("6.5_p20251025-r1", "6.5-r0")
	f.Add("1.0_rc1", "1.0")
	f.Add("99999999999999999999999", "1")
	f.Fuzz(func(t *testing.T, a, b string) {
		if x, y := compareVersions(a, b), compareVersions(b, a); x != -y {
			t.Fatalf("compare(%q,%q)=%d but compare(%q,%q)=%d", a, b, x, b, a, y)
		}
		if compareVersions(a, a) != 0 {
			t.Fatalf("%q != itself", a)
		}
	})
}
