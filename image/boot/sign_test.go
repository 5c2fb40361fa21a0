package boot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardvm/hardvm/internal/testtool"
)

// newDBKey makes a self-signed db certificate as a user would with
// `openssl req -x509 -newkey rsa:2048`, and writes it as PEM to dir.
func newDBKey(t *testing.T, dir, name string) (Signer, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x1234567),
		Subject:      pkix.Name{CommonName: "hardvm test db " + name},
		NotBefore:    time.Unix(1700000000, 0),
		NotAfter:     time.Unix(1700000000, 0).AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return Signer{Cert: cert, Key: key}, path
}

func TestSignVerifiedBySbverify(t *testing.T) {
	testtool.Require(t, "sbverify")
	dir := t.TempDir()
	s, certPath := newDBKey(t, dir, "db")
	_, otherPath := newDBKey(t, dir, "other")
	uki, err := testUKI(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(uki, s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "uki.signed.efi")
	if err := os.WriteFile(path, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sbverify", "--cert", certPath, path).CombinedOutput(); err != nil {
		t.Fatalf("sbverify --cert rejects our signature: %v\n%s", err, out)
	}
	if out, err := exec.Command("sbverify", "--cert", otherPath, path).CombinedOutput(); err == nil {
		t.Fatalf("sbverify accepts the signature with the wrong certificate:\n%s", out)
	}
	out := testtool.Run(t, "sbverify", "--list", path)
	if !bytes.Contains([]byte(out), []byte("hardvm test db db")) {
		t.Errorf("sbverify --list does not show our signer:\n%s", out)
	}
	// One flipped byte in the kernel section breaks the signature.
	p, err := parsePE(signed)
	if err != nil {
		t.Fatal(err)
	}
	lin, _ := p.section(".linux")
	tampered := append([]byte(nil), signed...)
	tampered[lin.RawPtr+100] ^= 1
	tp := filepath.Join(dir, "tampered.efi")
	if err := os.WriteFile(tp, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sbverify", "--cert", certPath, tp).CombinedOutput(); err == nil {
		t.Fatalf("sbverify accepts a tampered image:\n%s", out)
	}

	// Deterministic, and re-signing replaces the signature.
	again, err := Sign(uki, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signed, again) {
		t.Error("signing twice gave different bytes")
	}
	resigned, err := Sign(signed, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signed, resigned) {
		t.Error("re-signing a signed image does not replace the signature")
	}
	d1, _ := AuthenticodeDigest(uki)
	d2, _ := AuthenticodeDigest(signed)
	if len(uki)%8 == 0 && !bytes.Equal(d1, d2) {
		t.Error("the signature changes the Authenticode digest")
	}
}

// sbsign, the reference tool, and Sign agree on what they sign: sbverify
// accepts both, and both carry the same Authenticode digest.
func TestSignMatchesSbsignDigest(t *testing.T) {
	testtool.Require(t, "sbsign", "openssl")
	dir := t.TempDir()
	s, certPath := newDBKey(t, dir, "db")
	keyDER, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "db.key")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	uki, err := testUKI(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "uki.efi")
	if err := os.WriteFile(in, uki, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "uki.sbsign.efi")
	testtool.Run(t, "sbsign", "--key", keyPath, "--cert", certPath, "--output", ref, in)
	refBytes, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, err := AuthenticodeDigest(refBytes)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := Sign(uki, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AuthenticodeDigest(ours)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("digest of our signed image %x, of sbsign's %x", got, want)
	}
	// sbsign embeds the digest it computed in its SpcIndirectDataContent.
	if !bytes.Contains(refBytes, want) {
		t.Fatalf("sbsign's signature does not carry digest %x", want)
	}
}

func TestSignRejects(t *testing.T) {
	dir := t.TempDir()
	s, _ := newDBKey(t, dir, "db")
	other, _ := newDBKey(t, dir, "other")
	uki, err := testUKI(t).Build()
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := map[string]struct {
		pe []byte
		s  Signer
	}{
		"no key":        {uki, Signer{Cert: s.Cert}},
		"ecdsa":         {uki, Signer{Cert: s.Cert, Key: ec}},
		"mismatched":    {uki, Signer{Cert: s.Cert, Key: other.Key}},
		"not a PE file": {[]byte("hello"), s},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Sign(tc.pe, tc.s); !errors.Is(err, ErrSign) {
				t.Fatalf("err = %v, want ErrSign", err)
			}
		})
	}
}
