package provenance

import (
	"context"
	"testing"

	"github.com/hardvm/hardvm/vm"
)

// BenchmarkSBOM500 makes and encodes the SBOM of a 500-package lock.
func BenchmarkSBOM500(b *testing.B) {
	lock := testLock(vm.Wolfi, 495)
	arts := testArtifacts(b, b.TempDir(), lock, vm.FormatRaw, vm.FormatQCOW2)
	b.ReportAllocs()
	for b.Loop() {
		doc, err := SBOM(lock, arts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := MarshalSBOM(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSLSA500 makes and encodes the provenance of a 500-package lock.
func BenchmarkSLSA500(b *testing.B) {
	lock := testLock(vm.Wolfi, 495)
	arts := testArtifacts(b, b.TempDir(), lock, vm.FormatRaw, vm.FormatQCOW2)
	b.ReportAllocs()
	for b.Loop() {
		st, err := SLSA(lock, arts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := MarshalStatement(st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign signs the provenance of a 500-package lock with ECDSA P-256.
func BenchmarkSign(b *testing.B) {
	lock := testLock(vm.Wolfi, 495)
	arts := testArtifacts(b, b.TempDir(), lock, vm.FormatRaw)
	st, err := SLSA(lock, arts)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(context.Background(), st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify verifies an artifact against its provenance and SBOM
// bundles (500-package lock) under the default policy.
func BenchmarkVerify(b *testing.B) {
	s := signBuild(b, testLock(vm.Wolfi, 495))
	p, err := NewPolicy()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(context.Background(), s.arts[0], s.provenance, p, s.trusted, s.sbom); err != nil {
			b.Fatal(err)
		}
	}
}
