package fips_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing/fstest"

	"github.com/hardvm/hardvm/fips"
)

// A root with the OpenSSL FIPS provider, its fipsmodule.cnf and the hardened
// openssl.cnf passes; the same root with one flipped byte in the module
// fails the integrity check.
func ExampleCheck() {
	module := bytes.Repeat([]byte("fips provider "), 1000)
	modCnf, _ := fips.ModuleConfig(context.Background(), bytes.NewReader(module))
	root := fstest.MapFS{
		"usr/lib/ossl-modules/fips.so":  {Data: module},
		"etc/ssl/fipsmodule.cnf":        {Data: modCnf},
		"etc/ssl/openssl.cnf":           {Data: fips.OpenSSLConfig("/etc/ssl/fipsmodule.cnf")},
		"usr/lib/libjitterentropy.so.3": {Data: []byte("\x7fELF")},
		"usr/lib/apk/db/installed":      {Data: []byte("P:openssl-provider-fips-3.1.2\nV:3.1.2-r3\n\nP:jitterentropy-library\nV:3.6.3-r2\n")},
	}
	report, err := fips.Check(context.Background(), root)
	fmt.Println("passed:", report.Passed(), err)
	for _, m := range report.Modules {
		fmt.Println(m.Module, m.Certificate)
	}

	module[100] ^= 1
	report, err = fips.Check(context.Background(), root)
	fmt.Println("passed:", report.Passed(), errors.Is(err, fips.ErrMAC))
	r, _ := report.Result(fips.CheckProviderMAC)
	fmt.Println(r.Status, r.Path)
	// Output:
	// passed: true <nil>
	// openssl-fips-provider-3.1.2 CMVP #4985
	// jitterentropy ESV #191
	// passed: false true
	// fail /etc/ssl/fipsmodule.cnf
}

// A spec with fips: true installs the FIPS flavours of its packages.
func ExampleSelect() {
	pkgs, _ := fips.Select("wolfi", []string{"wolfi-base", "openjdk-21"})
	fmt.Println(pkgs)
	_, err := fips.Select("alpine", []string{"alpine-base"})
	fmt.Println(err)
	// Output:
	// [bouncycastle-fips libcrypto3 openjdk-21 openjdk-bcfips-policy-140-3-j21 openssl-config-fipshardened openssl-provider-fips-3.1.2 wolfi-base]
	// fips: repository family "alpine" has no FIPS packages (FIPS images need wolfi or chainguard)
}
