package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"

	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// TestCosignVerifiesBundles: cosign, the tool the supply-chain world uses,
// accepts our key-signed provenance bundles for each artifact and rejects
// them for a tampered artifact and for the wrong key.
func TestCosignVerifiesBundles(t *testing.T) {
	cosign := testtool.Require(t, "cosign")
	s := signBuild(t, testLock(vm.Wolfi, 2))
	dir := t.TempDir()
	pub := filepath.Join(dir, "key.pub")
	if err := WritePublicKeyFile(pub, s.signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "wrong.pub")
	if err := WritePublicKeyFile(wrong, otherKey(t).PublicKey()); err != nil {
		t.Fatal(err)
	}
	prov := filepath.Join(dir, "provenance.sigstore.json")
	if err := os.WriteFile(prov, mustMarshal(t, s.provenance), 0o644); err != nil {
		t.Fatal(err)
	}
	sbom := filepath.Join(dir, "sbom.sigstore.json")
	if err := os.WriteFile(sbom, mustMarshal(t, s.sbom), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(bundle, key, typ, artifact string) ([]byte, error) {
		cmd := exec.Command(cosign, "verify-blob-attestation", "--bundle", bundle, "--key", key,
			"--type", typ, "--insecure-ignore-tlog=true", artifact)
		cmd.Env = append(os.Environ(), "SIGSTORE_NO_CACHE=true", "TUF_ROOT="+t.TempDir())
		return cmd.CombinedOutput()
	}
	for _, a := range s.arts {
		if out, err := run(prov, pub, "slsaprovenance1", a.Path); err != nil {
			t.Errorf("cosign rejects our provenance bundle for %s: %v\n%s", a.Name(), err, out)
		}
		if out, err := run(sbom, pub, "spdxjson", a.Path); err != nil {
			t.Errorf("cosign rejects our SBOM bundle for %s: %v\n%s", a.Name(), err, out)
		}
	}
	tampered := filepath.Join(dir, "disk.raw")
	data, err := os.ReadFile(s.arts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0x20
	if err := os.WriteFile(tampered, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(prov, pub, "slsaprovenance1", tampered); err == nil {
		t.Errorf("cosign accepts the bundle for a tampered artifact:\n%s", out)
	}
	if out, err := run(prov, wrong, "slsaprovenance1", s.arts[0].Path); err == nil {
		t.Errorf("cosign accepts the bundle with the wrong key:\n%s", out)
	}
}

// TestCosignVerifiesKeylessBundles: cosign accepts the keyless bundles that
// hardvm signs with sigstore-go's in-process Sigstore (VirtualSigstore: its
// Fulcio CA, Rekor log with inclusion proof and signed entry timestamp, and
// TSA), against that Sigstore's trusted root written as trusted_root.json,
// with the transparency log checked (cosign's default). It rejects them for
// another identity, another issuer, a tampered artifact, another Sigstore's
// root and a bundle without a log entry. --insecure-ignore-sct: the
// VirtualSigstore's leaf certificates carry no SCT (its CA key is private to
// the package), and hardvm's own policy does not require one either.
func TestCosignVerifiesKeylessBundles(t *testing.T) {
	cosign := testtool.Require(t, "cosign")
	k := newKeyless(t)
	prov, sbom := k.sign(t, time.Now().Add(2*time.Minute), true) // within the leaf's 10 minutes
	noLogProv, _ := k.sign(t, time.Time{}, true)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	trustedRoot := func(name string, vs *ca.VirtualSigstore) string {
		t.Helper()
		tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(),
			rawLogIDs(t, vs.CTLogs()), vs.TimestampingAuthorities(), rawLogIDs(t, vs.RekorLogs()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := tr.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return write(name, b)
	}
	other, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := trustedRoot("trusted_root.json", k.vs), trustedRoot("other_root.json", other)
	provPath := write("provenance.sigstore.json", mustMarshal(t, prov))
	sbomPath := write("sbom.sigstore.json", mustMarshal(t, sbom))
	noLogPath := write("nolog.sigstore.json", mustMarshal(t, noLogProv))
	data, err := os.ReadFile(k.arts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0x20
	tampered := write("disk.raw", data)

	type run struct {
		bundle, trusted, typ, issuer, san, artifact string
	}
	cosignRun := func(r run) ([]byte, error) {
		cmd := exec.Command(cosign, "verify-blob-attestation", "--bundle", r.bundle, "--trusted-root", r.trusted,
			"--certificate-oidc-issuer", r.issuer, "--certificate-identity", r.san,
			"--type", r.typ, "--insecure-ignore-sct", r.artifact)
		cmd.Env = append(os.Environ(), "SIGSTORE_NO_CACHE=true", "TUF_ROOT="+t.TempDir())
		return cmd.CombinedOutput()
	}
	for _, a := range k.arts {
		for _, r := range []run{
			{provPath, ours, "slsaprovenance1", testIssuer, testSAN, a.Path},
			{sbomPath, ours, "spdxjson", testIssuer, testSAN, a.Path},
		} {
			if out, err := cosignRun(r); err != nil {
				t.Errorf("cosign rejects the keyless %s bundle for %s: %v\n%s", r.typ, a.Name(), err, out)
			}
		}
	}
	for _, tc := range []struct {
		name string
		r    run
		says string // cosign's reason, so that a failure for another reason does not count
	}{
		{"another identity", run{provPath, ours, "slsaprovenance1", testIssuer, "mallory@example.test", k.arts[0].Path},
			`expected SAN value "mallory@example.test", got "` + testSAN + `"`},
		{"another issuer", run{provPath, ours, "slsaprovenance1", "https://other-issuer.example.test", testSAN, k.arts[0].Path},
			`expected issuer value "https://other-issuer.example.test", got "` + testIssuer + `"`},
		{"tampered artifact", run{provPath, ours, "slsaprovenance1", testIssuer, testSAN, tampered},
			"provided artifact digests do not match digests in statement"},
		{"another Sigstore", run{provPath, theirs, "slsaprovenance1", testIssuer, testSAN, k.arts[0].Path},
			"not enough verified log entries from transparency log: 0 < 1"},
		{"no log entry", run{noLogPath, ours, "slsaprovenance1", testIssuer, testSAN, k.arts[0].Path},
			"not enough verified log entries from transparency log: 0 < 1"},
	} {
		out, err := cosignRun(tc.r)
		if err == nil {
			t.Errorf("cosign accepts the keyless bundle with %s:\n%s", tc.name, out)
		} else if !strings.Contains(string(out), tc.says) {
			t.Errorf("cosign refuses the keyless bundle with %s, but not for %q:\n%s", tc.name, tc.says, out)
		}
	}
}

// rawLogIDs returns logs with each log's ID as the raw key ID (the SHA-256 of
// its DER public key), as a trusted_root.json holds it. VirtualSigstore keys
// its logs by the hex key ID and keeps that hex text as the ID bytes, which
// in-process verification never reads but a serialized root would carry.
func rawLogIDs(t *testing.T, logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
	t.Helper()
	out := make(map[string]*root.TransparencyLog, len(logs))
	for id, l := range logs {
		raw, err := hex.DecodeString(id)
		if err != nil || len(raw) != sha256.Size {
			t.Fatalf("log ID %q is not a hex SHA-256: %v", id, err)
		}
		c := *l
		c.ID = raw
		out[id] = &c
	}
	return out
}
