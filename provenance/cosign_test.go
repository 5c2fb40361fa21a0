package provenance

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
