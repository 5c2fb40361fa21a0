package boot_test

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/internal/testtool"
)

// snakeoilSigner loads the db key that Debian's snakeoil OVMF variables
// enroll (openssl decrypts its PKCS#8 envelope).
func snakeoilSigner(t *testing.T) boot.Signer {
	t.Helper()
	testtool.Require(t, "openssl")
	for _, p := range []string{boottest.SnakeoilCode, boottest.SnakeoilVars, boottest.SnakeoilKey, boottest.SnakeoilCert} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("Debian's ovmf package (snakeoil Secure Boot firmware) is missing: %v", err)
		}
	}
	keyPath := filepath.Join(t.TempDir(), "snakeoil.key")
	testtool.Run(t, "openssl", "pkey", "-in", boottest.SnakeoilKey, "-passin", "pass:snakeoil", "-out", keyPath)
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	kblk, _ := pem.Decode(kb)
	key, err := x509.ParsePKCS8PrivateKey(kblk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile(boottest.SnakeoilCert)
	if err != nil {
		t.Fatal(err)
	}
	cblk, _ := pem.Decode(cb)
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return boot.Signer{Cert: cert, Key: key.(crypto.Signer)}
}

// TestBootSecureBoot boots with Secure Boot enforced by OVMF (Debian's
// snakeoil key in PK, KEK and db): the UKI signed by boot.Sign with the db
// key boots to the marker; the same image unsigned is refused by the
// firmware and never starts the kernel.
func TestBootSecureBoot(t *testing.T) {
	testtool.Require(t, "qemu-system-x86_64", "sbverify")
	signer := snakeoilSigner(t)
	root := imageRootfs(t)
	dir := t.TempDir()
	q := boot.QEMU{Code: boottest.SnakeoilCode, Vars: boottest.SnakeoilVars, SecureBoot: true}

	t.Run("signed", func(t *testing.T) {
		d := assembleBootable(t, root, filepath.Join(dir, "signed.raw"), boot.WithSigner(signer))
		q := q
		q.Disk, q.Format = d.Path, "raw"
		r := boottest.BootWith(t, q, marker, bootFailures, 5*time.Minute)
		if r.Failed || r.Matched == "" {
			t.Fatalf("signed UKI did not boot with Secure Boot: %v", r)
		}
		if !strings.Contains(r.Console, "Secure boot enabled") && !strings.Contains(r.Console, "secureboot: Secure boot enabled") {
			t.Errorf("the kernel does not report Secure Boot enabled")
		}
		t.Logf("BOOT TIME Secure Boot, signed UKI (TCG): %v", r.Elapsed.Round(time.Millisecond))
	})
	t.Run("unsigned", func(t *testing.T) {
		d := assembleBootable(t, root, filepath.Join(dir, "unsigned.raw"))
		q := q
		q.Disk, q.Format = d.Path, "raw"
		// The firmware refuses the image ("Access Denied") and falls through
		// to its other boot options; the kernel never starts.
		r := boottest.BootWith(t, q, "Access Denied", []string{"Linux version", marker}, 3*time.Minute)
		if r.Failed || r.Matched == "" {
			t.Fatalf("unsigned UKI under Secure Boot: %v; want the firmware's Access Denied", r)
		}
	})
}
