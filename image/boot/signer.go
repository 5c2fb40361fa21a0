package boot

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// LoadSigner reads a Secure Boot db key from PEM: the certificate
// (CERTIFICATE) and its unencrypted private key (PRIVATE KEY in PKCS#8, or
// RSA PRIVATE KEY in PKCS#1), as `openssl req -x509 -newkey rsa:2048
// -nodes` writes them. The files a spec's secure_boot section names.
func LoadSigner(certPEM, keyPEM []byte) (Signer, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return Signer{}, fmt.Errorf("%w: no PEM CERTIFICATE in the db certificate", ErrSign)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return Signer{}, fmt.Errorf("%w: db certificate: %w", ErrSign, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return Signer{}, fmt.Errorf("%w: no PEM block in the db key", ErrSign)
	}
	var key any
	switch kb.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return Signer{}, fmt.Errorf("%w: the db key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)", ErrSign)
	default:
		return Signer{}, fmt.Errorf("%w: db key is a PEM %q block, want PRIVATE KEY or RSA PRIVATE KEY", ErrSign, kb.Type)
	}
	if err != nil {
		return Signer{}, fmt.Errorf("%w: db key: %w", ErrSign, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return Signer{}, fmt.Errorf("%w: db key of type %T cannot sign", ErrSign, key)
	}
	if !publicKeysEqual(cert.PublicKey, s.Public()) {
		return Signer{}, fmt.Errorf("%w: the db key does not belong to certificate %q", ErrSign, cert.Subject)
	}
	return Signer{Cert: cert, Key: s}, nil
}
