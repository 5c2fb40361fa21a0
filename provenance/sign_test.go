package provenance

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/vm"
)

// signed is a signed build: artifacts in a directory, their provenance and
// SBOM bundles, and the key that signed them.
type signed struct {
	lock       *artifact.Lock
	arts       []artifact.Artifact
	signer     *Signer
	provenance *Bundle
	sbom       *Bundle
	trusted    *TrustedMaterial
}

func signBuild(t testing.TB, lock *artifact.Lock, opts ...Option) *signed {
	t.Helper()
	ctx := context.Background()
	s := &signed{lock: lock, arts: testArtifacts(t, t.TempDir(), lock, vm.FormatRaw, vm.FormatQCOW2)}
	var err error
	if s.signer, err = NewSigner(); err != nil {
		t.Fatal(err)
	}
	st, err := SLSA(lock, s.arts, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if s.provenance, err = s.signer.Sign(ctx, st); err != nil {
		t.Fatal(err)
	}
	doc, err := SBOM(lock, s.arts)
	if err != nil {
		t.Fatal(err)
	}
	sst, err := SBOMStatement(doc, s.arts)
	if err != nil {
		t.Fatal(err)
	}
	if s.sbom, err = s.signer.Sign(ctx, sst); err != nil {
		t.Fatal(err)
	}
	if s.trusted, err = TrustKeys(s.signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustPolicy(t testing.TB, opts ...PolicyOption) *Policy {
	t.Helper()
	p, err := NewPolicy(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignVerifyKey(t *testing.T) {
	s := signBuild(t, testLock(vm.Wolfi, 2))
	for _, a := range s.arts {
		res, err := Verify(context.Background(), a, s.provenance, nil, s.trusted, s.sbom)
		if err != nil {
			t.Fatalf("%s: %v", a.Name(), err)
		}
		if !res.Passed() || res.Provenance == nil || res.SBOM == nil {
			t.Fatalf("%s: result %+v", a.Name(), res)
		}
		names := map[string]bool{}
		for _, r := range res.Rules {
			names[r.Attestation+"/"+r.Name] = true
		}
		for _, want := range []string{"/artifact-digest", "provenance/signature", "provenance/identity", "provenance/subject",
			"provenance/builder-id", "provenance/repository-family", "provenance/denied-packages", "provenance/max-age",
			"sbom/signature", "sbom/subject", "sbom/sbom", "provenance/attestation:provenance", "sbom/attestation:sbom", "fips/attestation:fips"} {
			if !names[want] {
				t.Errorf("result lacks rule %s: %v", want, names)
			}
		}
		var table bytes.Buffer
		if err := WriteTable(&table, res); err != nil || !strings.Contains(table.String(), "builder-id") {
			t.Errorf("table: %v\n%s", err, table.String())
		}
	}
	// The bundle survives JSON.
	b, err := MarshalBundle(s.provenance)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), s.arts[0], back, nil, s.trusted, s.sbom); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"`) {
		t.Errorf("bundle media type: %.200s", b)
	}
}

func TestVerifyRejects(t *testing.T) {
	ctx := context.Background()
	s := signBuild(t, testLock(vm.Wolfi, 2))
	other := signBuild(t, testLock(vm.Wolfi, 3)) // another build, another key
	otherTrusted, _ := TrustKeys(other.signer.PublicKey())

	tampered := s.arts[0]
	tampered.Digest = ""
	tampered.Path = filepath.Join(t.TempDir(), "disk.raw")
	data, _ := os.ReadFile(s.arts[0].Path)
	data[3] ^= 1
	os.WriteFile(tampered.Path, data, 0o644)

	recorded := s.arts[0]
	recorded.Digest = s.arts[1].Digest

	forged, _ := ParseBundle(mustMarshal(t, s.provenance))
	forged.GetDsseEnvelope().Payload = bytes.Replace(forged.GetDsseEnvelope().GetPayload(),
		[]byte(DefaultBuilderID), []byte("https://evil.example.test/builder"), 1)

	tests := []struct {
		name    string
		art     artifact.Artifact
		b       *Bundle
		more    []*Bundle
		policy  *Policy
		trusted *TrustedMaterial
		want    error
	}{
		{"tampered artifact byte", tampered, s.provenance, []*Bundle{s.sbom}, nil, s.trusted, ErrSubjectMismatch},
		{"artifact differs from its record", recorded, s.provenance, []*Bundle{s.sbom}, nil, s.trusted, ErrSubjectMismatch},
		{"bundle for another artifact", s.arts[0], other.provenance, []*Bundle{other.sbom}, nil, otherTrusted, ErrSubjectMismatch},
		{"wrong key", s.arts[0], s.provenance, []*Bundle{s.sbom}, nil, otherTrusted, ErrSignature},
		{"no trusted key", s.arts[0], s.provenance, nil, nil, nil, ErrSignature},
		{"forged payload", s.arts[0], forged, []*Bundle{s.sbom}, nil, s.trusted, ErrSignature},
		{"no sbom", s.arts[0], s.provenance, nil, nil, s.trusted, ErrMissingAttestation},
		{"only sbom", s.arts[0], s.sbom, nil, nil, s.trusted, ErrMissingAttestation},
		{"other builder", s.arts[0], s.provenance, []*Bundle{s.sbom}, mustPolicy(t, RequireBuilder("https://ci.example.test/b")), s.trusted, ErrBuilder},
		{"denied package", s.arts[0], s.provenance, []*Bundle{s.sbom}, mustPolicy(t, DenyPackage("busybox", "<1.37.1")), s.trusted, ErrDeniedPackage},
		{"too old", s.arts[0], s.provenance, []*Bundle{s.sbom}, mustPolicy(t, MaxAge(24*time.Hour), At(time.Unix(testEpoch, 0).Add(49*time.Hour))), s.trusted, ErrTooOld},
		{"fips required", s.arts[0], s.provenance, []*Bundle{s.sbom}, mustPolicy(t, RequireFIPS()), s.trusted, ErrFIPS},
		{"key bundle where a log is required", s.arts[0], s.provenance, []*Bundle{s.sbom}, mustPolicy(t, RequireTransparencyLog(1)), s.trusted, ErrTransparencyLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(ctx, tt.art, tt.b, tt.policy, tt.trusted, tt.more...)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrVerification) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if res == nil || res.Passed() || len(res.Failed()) == 0 {
				t.Fatalf("result %+v passed", res)
			}
			var re *RuleError
			if !errors.As(err, &re) || re.Rule == "" {
				t.Errorf("err %v is not a *RuleError", err)
			}
		})
	}
}

func mustMarshal(t testing.TB, b *Bundle) []byte {
	t.Helper()
	out, err := MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyPolicyPasses(t *testing.T) {
	ctx := context.Background()
	s := signBuild(t, testLock(vm.Wolfi, 2), WithBuilderID("https://ci.example.test/b"))
	tests := []struct {
		name   string
		policy *Policy
		more   []*Bundle
	}{
		{"builder named", mustPolicy(t, RequireBuilder("https://ci.example.test/a", "https://ci.example.test/b")), []*Bundle{s.sbom}},
		{"any builder", mustPolicy(t, AnyBuilderUnsafe()), []*Bundle{s.sbom}},
		{"sbom waived", mustPolicy(t, AnyBuilderUnsafe(), WithoutSBOMUnsafe()), nil},
		{"denial not matching", mustPolicy(t, AnyBuilderUnsafe(), DenyPackage("busybox", ">=1.38"), DenyPackage("openssl", "*")), []*Bundle{s.sbom}},
		{"young enough", mustPolicy(t, AnyBuilderUnsafe(), MaxAge(24*time.Hour), At(time.Unix(testEpoch, 0).Add(time.Hour))), []*Bundle{s.sbom}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Verify(ctx, s.arts[1], s.provenance, tt.policy, s.trusted, tt.more...); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := Verify(ctx, s.arts[1], s.provenance, nil, s.trusted, s.sbom); !errors.Is(err, ErrBuilder) {
		t.Errorf("default policy accepted a custom builder: %v", err)
	}
}

func TestVerifyFamilies(t *testing.T) {
	ctx := context.Background()
	mixed := testLock(vm.Wolfi, 1)
	mixed.Repositories = append(mixed.Repositories, artifact.Repository{URL: "https://cg.example.test/os", Family: vm.Chainguard})
	mixed.Packages[0].Repository = "https://cg.example.test/os"
	tests := []struct {
		name   string
		lock   *artifact.Lock
		policy *Policy
		want   error
	}{
		{"wolfi", testLock(vm.Wolfi, 1), nil, nil},
		{"chainguard", testLock(vm.Chainguard, 1), nil, nil},
		{"alpine by default", testLock(vm.Alpine, 1), nil, ErrFamily},
		{"alpine allowed", testLock(vm.Alpine, 1), mustPolicy(t, AllowFamilies(vm.Alpine)), nil},
		{"chainguard only", testLock(vm.Wolfi, 1), mustPolicy(t, AllowFamilies(vm.Chainguard)), ErrFamily},
		{"wolfi and chainguard", mixed, mustPolicy(t, AllowFamilies(vm.Wolfi, vm.Chainguard, vm.Alpine)), ErrFamily},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := signBuild(t, tt.lock)
			_, err := Verify(ctx, s.arts[0], s.provenance, tt.policy, s.trusted, s.sbom)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func passingReport() *fips.Report {
	return &fips.Report{
		Modules: []fips.Found{{Module: "openssl-fips-provider", Version: "3.1.2", Package: "openssl-provider-fips"}},
		Results: []fips.Result{
			{Check: fips.CheckProviderModule, Status: fips.Pass, Path: "/usr/lib/ossl-modules/fips.so"},
			{Check: fips.CheckJava, Status: fips.NotApplicable},
		},
		Scope: fips.DefaultScope(),
	}
}

func TestRequireFIPS(t *testing.T) {
	ctx := context.Background()
	s := signBuild(t, testLock(vm.Chainguard, 1))
	sign := func(r *fips.Report, arts []artifact.Artifact) *Bundle {
		st, err := FIPSStatement(r, arts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.signer.Sign(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	policy := mustPolicy(t, RequireFIPS())
	good := sign(passingReport(), s.arts)
	res, err := Verify(ctx, s.arts[0], s.provenance, policy, s.trusted, s.sbom, good)
	if err != nil || res.FIPS == nil {
		t.Fatalf("passing report: %v", err)
	}
	back, err := FIPSReport(res.FIPS)
	if err != nil || !back.Passed() {
		t.Fatalf("report round trip: %v %+v", err, back)
	}

	failing := passingReport()
	failing.Results[0].Status = fips.Fail
	otherArt := testArtifacts(t, t.TempDir(), s.lock, vm.FormatVHD)
	tests := []struct {
		name string
		b    *Bundle
		want []error
	}{
		{"failing report", sign(failing, s.arts), []error{ErrFIPS}},
		{"report for another artifact", sign(passingReport(), otherArt), []error{ErrSubjectMismatch, ErrFIPS, ErrMissingAttestation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(ctx, s.arts[0], s.provenance, policy, s.trusted, s.sbom, tt.b)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
		})
	}
	unsigned := *good
	if _, err := Verify(ctx, s.arts[0], s.provenance, policy, mustTrust(t, otherKey(t)), s.sbom, &unsigned); !errors.Is(err, ErrFIPS) {
		t.Errorf("report signed by an untrusted key: %v", err)
	}
}

func otherKey(t testing.TB) *Signer {
	s, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustTrust(t testing.TB, s *Signer) *TrustedMaterial {
	tm, err := TrustKeys(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WritePrivateKeyFile(filepath.Join(dir, "key.pem"), k); err != nil {
		t.Fatal(err)
	}
	if err := WritePublicKeyFile(filepath.Join(dir, "key.pub"), k.Public()); err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(WithKeyFile(filepath.Join(dir, "key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if s.Generated() || s.Keyless() {
		t.Error("a file key is neither generated nor keyless")
	}
	tm, err := ReadTrustedKeyFile(filepath.Join(dir, "key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	lock := testLock(vm.Wolfi, 0)
	arts := testArtifacts(t, dir, lock, vm.FormatRaw)
	st, _ := SLSA(lock, arts)
	b, err := s.Sign(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), arts[0], b, mustPolicy(t, WithoutSBOMUnsafe()), tm); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "key.pem"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode())
	}

	bad := []struct {
		name string
		pem  string
	}{
		{"empty", ""},
		{"public key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
		{"garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		{"encrypted cosign key", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePrivateKeyPEM([]byte(tt.pem)); !errors.Is(err, ErrKey) {
				t.Fatalf("err = %v, want ErrKey", err)
			}
		})
	}
	if _, err := NewSigner(WithKeyFile(filepath.Join(dir, "missing.pem"))); !errors.Is(err, ErrKey) {
		t.Errorf("missing key file: %v", err)
	}
	if _, err := ParsePublicKeyPEM([]byte("nope")); !errors.Is(err, ErrKey) {
		t.Errorf("bad public key: %v", err)
	}
}

func TestParseBundleRejects(t *testing.T) {
	s := signBuild(t, testLock(vm.Wolfi, 0))
	good := mustMarshal(t, s.provenance)
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated", good[:len(good)/2], ErrMalformed},
		{"empty object", []byte("{}"), ErrMalformed},
		{"not json", []byte("\x00\x01"), ErrMalformed},
		{"unknown media type", bytes.Replace(good, []byte("bundle.v0.3+json"), []byte("bundle.v9+json"), 1), ErrMalformed},
		{"oversized", bytes.Repeat([]byte(" "), maxDocumentSize+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseBundle(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
