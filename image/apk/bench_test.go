package apk

import (
	"bytes"
	"io"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// BenchmarkParseIndex parses the Alpine 3.16 APKINDEX (about 1.9 MB of
// text, 4929 packages).
func BenchmarkParseIndex(b *testing.B) {
	text := alpineIndexText(b)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseIndex(bytes.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadIndex reads the whole APKINDEX.tar.gz: gzip streams,
// signature hashing and parsing, with an empty keyring (it fails at the
// end for want of the signer's key; BenchmarkReadIndexVerified verifies).
func BenchmarkReadIndex(b *testing.B) {
	f := openReal(b, "alpine-3.16-aarch64/APKINDEX.tar.gz")
	data, err := io.ReadAll(f)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ReadIndex(bytes.NewReader(data), NewKeyring(), "bench"); err == nil {
			b.Fatal("verified without the key")
		}
	}
}

// BenchmarkCompareVersions compares typical versions.
func BenchmarkCompareVersions(b *testing.B) {
	for b.Loop() {
		apkversion.Compare("2.41-r55", "2.41-r6")
		apkversion.Compare("1.0.0_pre20191002222144-r0", "1.0.0_pre20210530193627-r0")
	}
}

// BenchmarkReadIndexVerified reads and verifies the Alpine 3.16 index with
// the key that signed it: gzip streams, RSA/SHA-1 signature, parsing.
func BenchmarkReadIndexVerified(b *testing.B) {
	data, err := io.ReadAll(openReal(b, "alpine-3.16-aarch64/APKINDEX.tar.gz"))
	if err != nil {
		b.Fatal(err)
	}
	k := keyring(b, "alpine-3.16-aarch64/keys/alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadIndex(bytes.NewReader(data), k, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewResolver indexes the Alpine 3.16 packages for resolving.
func BenchmarkNewResolver(b *testing.B) {
	src := goldenSources(b, "alpine")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewResolver(src...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve resolves each golden world on its indexes (the
// resolver built once, as image.Resolve builds it once per lock).
func BenchmarkResolve(b *testing.B) {
	for _, g := range readGolden(b) {
		b.Run(g.name, func(b *testing.B) {
			r, err := NewResolver(goldenSources(b, g.repos)...)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_, err := r.Resolve(g.world)
				if (err == nil) != g.ok {
					b.Fatal(err)
				}
			}
		})
	}
}
