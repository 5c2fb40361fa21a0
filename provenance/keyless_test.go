package provenance

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// The keyless path is tested against sigstore-go's in-process test Sigstore
// (VirtualSigstore): its Fulcio CA certifies the signing key, its Rekor log
// records the DSSE entry with an inclusion proof and a signed entry
// timestamp, its TSA timestamps the signature. No network.

const (
	testIssuer = "https://issuer.example.test"
	testSAN    = "builder@example.test"
)

// vsFulcio hands out the certificate VirtualSigstore issued for the key.
type vsFulcio struct{ cert *x509.Certificate }

func (f vsFulcio) GetCertificate(context.Context, sign.Keypair, *sign.CertificateProviderOptions) ([]byte, error) {
	return f.cert.Raw, nil
}

// vsRekor enters the bundle's DSSE envelope into VirtualSigstore's log.
type vsRekor struct {
	vs   *ca.VirtualSigstore
	cert *x509.Certificate
	at   time.Time
}

func (r vsRekor) GetTransparencyLogEntry(_ context.Context, _ []byte, b *protobundle.Bundle) error {
	env := b.GetDsseEnvelope()
	sig := env.GetSignatures()[0].GetSig()
	e := &dsse.Envelope{
		PayloadType: env.GetPayloadType(),
		Payload:     base64.StdEncoding.EncodeToString(env.GetPayload()),
		Signatures:  []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
	entry, err := r.vs.GenerateTlogEntry(r.cert, e, sig, r.at.Unix(), true)
	if err != nil {
		return err
	}
	tle := entry.TransparencyLogEntry()
	tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
	logID, err := r.vs.RekorLogID()
	if err != nil {
		return err
	}
	set, err := r.vs.RekorSignPayload(tlog.RekorPayload{
		Body: base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()), IntegratedTime: tle.GetIntegratedTime(),
		LogIndex: tle.GetLogIndex(), LogID: logID,
	})
	if err != nil {
		return err
	}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	b.VerificationMaterial.TlogEntries = append(b.VerificationMaterial.TlogEntries, tle)
	return nil
}

// vsTSA timestamps with VirtualSigstore's timestamp authority.
type vsTSA struct{ vs *ca.VirtualSigstore }

func (t vsTSA) GetTimestamp(_ context.Context, sig []byte) ([]byte, error) {
	return t.vs.TimestampResponse(sig)
}

type keylessSetup struct {
	vs   *ca.VirtualSigstore
	lock *artifact.Lock
	arts []artifact.Artifact
}

func newKeyless(t *testing.T) *keylessSetup {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	lock := testLock(vm.Chainguard, 2)
	return &keylessSetup{vs: vs, lock: lock, arts: testArtifacts(t, t.TempDir(), lock, vm.FormatRaw, vm.FormatVHD)}
}

// sign signs provenance and SBOM keyless; logAt is the log's integrated
// time (zero: no log entry); tsa adds an RFC 3161 timestamp.
func (k *keylessSetup) sign(t *testing.T, logAt time.Time, tsa bool) (*Bundle, *Bundle) {
	t.Helper()
	cert, key, err := k.vs.GenerateLeafCert(testSAN, testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	opts := []SignerOption{WithKey(key.(crypto.Signer)), WithCertificateProvider(vsFulcio{cert}, "test-oidc-token")}
	if !logAt.IsZero() {
		opts = append(opts, WithTransparencyLog(vsRekor{k.vs, cert, logAt}))
	}
	if tsa {
		opts = append(opts, WithTimestamper(vsTSA{k.vs}))
	}
	s, err := NewSigner(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Keyless() {
		t.Fatal("signer with a certificate provider is not keyless")
	}
	st, err := SLSA(k.lock, k.arts)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := s.Sign(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := SBOM(k.lock, k.arts)
	sst, _ := SBOMStatement(doc, k.arts)
	sbom, err := s.Sign(context.Background(), sst)
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as a verifier receives them.
	p, err := ParseBundle(mustMarshal(t, prov))
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseBundle(mustMarshal(t, sbom))
	if err != nil {
		t.Fatal(err)
	}
	return p, q
}

func TestKeyless(t *testing.T) {
	ctx := context.Background()
	k := newKeyless(t)
	soon := time.Now().Add(2 * time.Minute) // within the leaf certificate's 10 minutes
	prov, sbom := k.sign(t, soon, true)
	trusted := TrustRoot(k.vs)

	res, err := Verify(ctx, k.arts[1], prov, mustPolicy(t, WithIdentity(testIssuer, testSAN), RequireTimestamps(1)), trusted, sbom)
	if err != nil {
		t.Fatal(err)
	}
	var sawLog, sawIdentity bool
	for _, r := range res.Rules {
		if r.Name == "transparency-log" && r.Outcome == Pass {
			sawLog = true
		}
		if r.Name == "identity" && r.Detail == testIssuer+" "+testSAN {
			sawIdentity = true
		}
	}
	if !sawLog || !sawIdentity {
		t.Errorf("rules %+v lack the log entry or the identity", res.Rules)
	}
	if _, err := Verify(ctx, k.arts[0], prov, mustPolicy(t, WithIdentity("re:^https://issuer\\.", "re:@example\\.test$")), trusted, sbom); err != nil {
		t.Errorf("regexp identity: %v", err)
	}
	if _, err := Verify(ctx, k.arts[0], prov, mustPolicy(t, AnyIdentityUnsafe()), trusted, sbom); err != nil {
		t.Errorf("any identity: %v", err)
	}

	noLogProv, noLogSBOM := k.sign(t, time.Time{}, true)
	expProv, expSBOM := k.sign(t, time.Now().Add(time.Hour), false) // logged after the certificate expired
	other, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		b, sbom *Bundle
		policy  *Policy
		trusted *TrustedMaterial
		want    error
	}{
		{"no identity in policy", prov, sbom, nil, trusted, ErrIdentity},
		{"wrong SAN", prov, sbom, mustPolicy(t, WithIdentity(testIssuer, "mallory@example.test")), trusted, ErrIdentity},
		{"wrong issuer", prov, sbom, mustPolicy(t, WithIdentity("https://other-issuer.example.test", testSAN)), trusted, ErrIdentity},
		{"another Sigstore", prov, sbom, mustPolicy(t, WithIdentity(testIssuer, testSAN)), TrustRoot(other), ErrVerification},
		{"no trusted root", prov, sbom, mustPolicy(t, WithIdentity(testIssuer, testSAN)), mustTrust(t, otherKey(t)), ErrSignature},
		{"no log entry", noLogProv, noLogSBOM, mustPolicy(t, WithIdentity(testIssuer, testSAN)), trusted, ErrTransparencyLog},
		{"expired certificate", expProv, expSBOM, mustPolicy(t, WithIdentity(testIssuer, testSAN)), trusted, ErrTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(ctx, k.arts[0], tt.b, tt.policy, tt.trusted, tt.sbom)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Without a log but with a timestamp, an explicitly unsafe policy passes.
	if _, err := Verify(ctx, k.arts[0], noLogProv, mustPolicy(t, WithIdentity(testIssuer, testSAN), WithoutTransparencyLogUnsafe()), trusted, noLogSBOM); err != nil {
		t.Errorf("no log, unsafe policy: %v", err)
	}
}
