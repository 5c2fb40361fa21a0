package boot

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// LoadSigner reads the key pair openssl makes, and the result signs images
// sbverify accepts with that certificate.
func TestLoadSignerFromOpenSSL(t *testing.T) {
	testtool.Require(t, "openssl", "sbverify")
	dir := t.TempDir()
	key, crt := filepath.Join(dir, "db.key"), filepath.Join(dir, "db.crt")
	testtool.Run(t, "openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
		"-subj", "/CN=hardvm test db/", "-keyout", key, "-out", crt)
	rsaKey := filepath.Join(dir, "db.rsa.key")
	testtool.Run(t, "openssl", "rsa", "-in", key, "-traditional", "-out", rsaKey)
	certPEM, _ := os.ReadFile(crt)
	for _, k := range []string{key, rsaKey} {
		keyPEM, _ := os.ReadFile(k)
		s, err := LoadSigner(certPEM, keyPEM)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(k), err)
		}
		img, err := testUKI(t).Build()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := Sign(img, s)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "uki.efi")
		if err := os.WriteFile(p, signed, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("sbverify", "--cert", crt, p).CombinedOutput(); err != nil {
			t.Fatalf("sbverify: %v\n%s", err, out)
		}
	}
	enc := filepath.Join(dir, "enc.key")
	testtool.Run(t, "openssl", "pkey", "-in", key, "-aes256", "-passout", "pass:x", "-out", enc)
	encPEM, _ := os.ReadFile(enc)
	other := filepath.Join(dir, "other.key")
	testtool.Run(t, "openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", other)
	otherPEM, _ := os.ReadFile(other)
	for name, kp := range map[string][]byte{"encrypted": encPEM, "other key": otherPEM, "garbage": []byte("x")} {
		if _, err := LoadSigner(certPEM, kp); !errors.Is(err, ErrSign) {
			t.Errorf("%s: err = %v, want ErrSign", name, err)
		}
	}
	if _, err := LoadSigner([]byte("nope"), otherPEM); !errors.Is(err, ErrSign) {
		t.Errorf("bad cert: err = %v", err)
	}
}
