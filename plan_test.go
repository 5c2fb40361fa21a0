package hardvm

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// planSpec is a valid spec whose repository is never read: newPlan does
// no I/O but the Secure Boot files.
func planSpec() vm.Spec {
	return vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1763856000, Build: 2,
		Repositories: []vm.Repository{{URL: "https://packages.example.test/os", Keys: []string{"k.rsa.pub"}, Family: vm.Wolfi}},
		Formats:      []vm.DiskFormat{vm.FormatQCOW2, vm.FormatRaw}, Size: 300 << 20}
}

func mustPlan(t *testing.T, spec vm.Spec, opts ...Option) *plan {
	t.Helper()
	o, err := applyOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(spec, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The plan holds every input of the build, decided once: the ref without
// digest, the layout, the formats with their writers (raw first, once),
// the signer and what verification trusts.
func TestPlan(t *testing.T) {
	spec := planSpec()
	p := mustPlan(t, spec, WithOutputDir("out"), WithCompression(true))
	if p.ref != spec.Ref() || p.ref.Digest != "" || p.dir != "out" || p.cacheDir != filepath.Join("out", "cache") {
		t.Errorf("plan %+v", p)
	}
	if p.layout.Size != spec.DiskSize() || p.layout.Arch != vm.X86_64 || p.layout.Seed != spec.Ref().Stream() ||
		p.layout.SourceDateEpoch != spec.SourceDateEpoch || p.layout.ESPFunc != nil {
		t.Errorf("layout %+v", p.layout)
	}
	if len(p.exports) != 2 || p.exports[0].format != vm.FormatRaw || p.exports[0].writer != nil ||
		p.exports[1].format != vm.FormatQCOW2 || p.exports[1].writer == nil || p.exports[1].writer.Format() != vdisk.Format(vm.FormatQCOW2) {
		t.Errorf("exports %+v", p.exports)
	}
	if p.signer == nil || p.trusted == nil || p.policy == nil || len(p.uki) != 4 || p.fips {
		t.Errorf("plan %+v", p)
	}
	// The trusted material defaults to the signer's key: what it signed
	// verifies.
	signer, _ := provenance.NewSigner()
	tm, _ := provenance.TrustKeys(signer.PublicKey())
	p = mustPlan(t, spec, WithSigner(signer), WithTrustedMaterial(tm), WithBuilderID("https://ci.example.test/b"))
	if p.signer != signer || p.trusted != tm || len(p.attest) != 1 {
		t.Errorf("plan %+v", p)
	}
	// The spec is validated before anything.
	bad := spec
	bad.Platform = "qemuu"
	o, _ := applyOptions(nil)
	var se *StepError
	if _, err := newPlan(bad, o); !errors.As(err, &se) || se.Step != "spec" || !errors.Is(err, vm.ErrUnknown) {
		t.Errorf("invalid spec: %v", err)
	}
}

// The Secure Boot files are read once, when the plan is made: a missing or
// wrong one fails the build before anything is written.
func TestPlanSecureBoot(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeDBKey(t, dir)
	spec := planSpec()
	spec.SecureBoot = &vm.SecureBoot{DBCert: cert, DBKey: key}
	if p := mustPlan(t, spec); len(p.uki) != 5 {
		t.Errorf("%d boot options, want arch, epoch, cmdline, the platform and the signer", len(p.uki))
	}
	huge := filepath.Join(dir, "huge.pem")
	os.WriteFile(huge, make([]byte, maxBootFile+1), 0o600)
	for _, tc := range []struct {
		name       string
		cert, key  string
		want       error
		wantInText string
	}{
		{"missing certificate", filepath.Join(dir, "none.crt"), key, os.ErrNotExist, "secure_boot.db_cert"},
		{"missing key", cert, filepath.Join(dir, "none.key"), os.ErrNotExist, "secure_boot.db_key"},
		{"key for the certificate swapped", key, cert, boot.ErrSign, "db"},
		{"oversized file", huge, key, nil, "over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec
			s.SecureBoot = &vm.SecureBoot{DBCert: tc.cert, DBKey: tc.key}
			out := filepath.Join(t.TempDir(), "out")
			_, err := Build(t.Context(), s, WithOutputDir(out))
			var se *StepError
			if !errors.As(err, &se) || se.Step != "boot" || (tc.want != nil && !errors.Is(err, tc.want)) || !containsText(err, tc.wantInText) {
				t.Fatalf("err = %v", err)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the build wrote %s before failing: %v", out, err)
			}
		})
	}
}

func containsText(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// writeDBKey writes a self-signed Secure Boot db certificate and its RSA
// key as PEM, as `openssl req -x509 -newkey rsa:2048 -nodes` does.
func writeDBKey(t *testing.T, dir string) (string, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hardvm test db"},
		NotBefore: time.Unix(1763856000, 0), NotAfter: time.Unix(1763856000, 0).AddDate(10, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "db.crt"), filepath.Join(dir, "db.key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, key
}
