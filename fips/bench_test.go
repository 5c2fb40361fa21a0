package fips

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkModuleMAC measures the integrity check of a provider-sized
// module (fips.so of OpenSSL 3.1.2 is about 1.5 MiB; 8 MiB here).
func BenchmarkModuleMAC(b *testing.B) {
	mod := moduleBytes(8 << 20)
	key := mustHex(DefaultModuleKey)
	b.SetBytes(int64(len(mod)))
	for b.Loop() {
		if _, err := ModuleMAC(context.Background(), bytes.NewReader(mod), key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck measures a whole check of a minimal FIPS root with a JDK.
func BenchmarkCheck(b *testing.B) {
	m := withJava(fixture(b))
	for b.Loop() {
		if _, err := Check(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}
