package fips

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// moduleBytes returns deterministic stand-in bytes for fips.so: an ELF magic
// and a SHA-256 chain, so a flipped byte anywhere changes the MAC.
func moduleBytes(n int) []byte {
	var b bytes.Buffer
	b.WriteString("\x7fELF\x02\x01\x01")
	sum := sha256.Sum256([]byte("hardvm fips test module"))
	for b.Len() < n {
		b.Write(sum[:])
		sum = sha256.Sum256(sum[:])
	}
	return b.Bytes()[:n]
}

const installedDB = `C:Q1aaaaaaaaaaaaaaaaaaaaaaaaaaa=
P:glibc
V:2.42-r4
A:x86_64

P:libcrypto3
V:3.6.0-r4
A:x86_64
F:usr/lib
R:libcrypto.so.3

P:openssl-provider-fips-3.1.2
V:3.1.2-r3
A:x86_64

P:openssl-config-fipshardened
V:3.6.0-r4
A:x86_64
`

const javaSecurity = `# java.security for a FIPS JDK
security.provider.1=org.bouncycastle.jcajce.provider.BouncyCastleFipsProvider C:HYBRID;ENABLE{All};
security.provider.2=org.bouncycastle.jsse.provider.BouncyCastleJsseProvider fips:BCFIPS
security.provider.3=SUN
security.provider.4=SunJGSS
org.bouncycastle.fips.approved_only=true
keystore.type=BCFKS
`

// fixture returns a minimal FIPS root: the provider module and its
// fipsmodule.cnf (MAC computed here), the hardened openssl.cnf, libcrypto
// with jitter, an installed database and a kernel command line.
func fixture(t testing.TB) fstest.MapFS {
	t.Helper()
	mod := moduleBytes(64 << 10)
	cnf, err := ModuleConfig(context.Background(), bytes.NewReader(mod))
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{
		"usr/lib/ossl-modules/fips.so": {Data: mod, Mode: 0o755},
		"etc/ssl/fipsmodule.cnf":       {Data: cnf, Mode: 0o644},
		"etc/ssl/openssl.cnf":          {Data: OpenSSLConfig("/etc/ssl/fipsmodule.cnf"), Mode: 0o644},
		"usr/lib/libcrypto.so.3":       {Data: []byte("\x7fELF libcrypto"), Mode: 0o755},
		"usr/lib/apk/db/installed":     {Data: []byte(installedDB), Mode: 0o644},
		"etc/kernel/cmdline":           {Data: []byte("root=PARTUUID=4f68bce3-e8cd-4db1-96e7-fbcaf984b709 ro quiet console=ttyS0\n"), Mode: 0o644},
	}
}

// withJava adds a JDK with the BouncyCastle FIPS configuration.
func withJava(m fstest.MapFS) fstest.MapFS {
	m["usr/lib/jvm/java-21-openjdk/conf/security/java.security"] = &fstest.MapFile{Data: []byte(javaSecurity), Mode: 0o644}
	m["usr/share/java/bouncycastle-fips/bc-fips-2.1.0.jar"] = &fstest.MapFile{Data: []byte("PK\x03\x04"), Mode: 0o644}
	m["usr/lib/apk/db/installed"].Data = append(m["usr/lib/apk/db/installed"].Data, []byte("\nP:bouncycastle-fips\nV:2.1.0-r1\n")...)
	return m
}

// edit replaces old with new in a file of m, failing if old is absent.
func edit(t testing.TB, m fstest.MapFS, name, old, new string) {
	t.Helper()
	f := m[name]
	if f == nil || !bytes.Contains(f.Data, []byte(old)) {
		t.Fatalf("fixture %s has no %q", name, old)
	}
	f.Data = []byte(strings.Replace(string(f.Data), old, new, 1))
}

func failing(r *Report) []CheckName {
	var out []CheckName
	for _, c := range r.Results {
		if c.Status == Fail {
			out = append(out, c.Check)
		}
	}
	return out
}

func dump(r *Report) string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprint(r)
}
