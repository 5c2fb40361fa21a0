package boot_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"os"
	"testing"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
)

// benchUKI is a UKI of realistic size: the Debian kernel and an initramfs
// with the default modules.
func benchUKI(b *testing.B) *boot.UKI {
	b.Helper()
	kt := boottest.KernelTree(b)
	root := os.DirFS(kt)
	k, err := boot.FindKernel(root, "")
	if err != nil {
		b.Fatal(err)
	}
	linux, err := os.ReadFile(kt + "/" + k.Image)
	if err != nil {
		b.Fatal(err)
	}
	var initrd bytes.Buffer
	if _, err := boot.WriteInitramfs(context.Background(), &initrd, root); err != nil {
		b.Fatal(err)
	}
	return &boot.UKI{Stub: boottest.Stub(b), Linux: linux, Initrd: initrd.Bytes(), Cmdline: "console=ttyS0 roothash=00", Uname: k.Version}
}

func BenchmarkWriteInitramfs(b *testing.B) {
	root := os.DirFS(boottest.KernelTree(b))
	var n int64
	for b.Loop() {
		info, err := boot.WriteInitramfs(context.Background(), io.Discard, root)
		if err != nil {
			b.Fatal(err)
		}
		n = info.Size
	}
	b.SetBytes(n)
}

func BenchmarkUKIBuild(b *testing.B) {
	u := benchUKI(b)
	b.SetBytes(int64(len(u.Linux) + len(u.Initrd)))
	for b.Loop() {
		if _, err := u.Build(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	img, err := benchUKI(b).Build()
	if err != nil {
		b.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench db"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s := boot.Signer{Cert: cert, Key: key}
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := boot.Sign(img, s); err != nil {
			b.Fatal(err)
		}
	}
}
