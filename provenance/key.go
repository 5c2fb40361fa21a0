package provenance

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/hardvm/hardvm/internal/atomicfile"
)

// GenerateKey returns a new ECDSA P-256 private key, the default signing
// key, from crypto/rand (the FIPS 140-3 DRBG when GODEBUG=fips140=on).
func GenerateKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate ECDSA P-256 key: %v", ErrKey, err)
	}
	return k, nil
}

// ParsePrivateKeyPEM parses an unencrypted private key in PEM: PKCS#8
// ("PRIVATE KEY") holding ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048 bits, or
// SEC 1 ("EC PRIVATE KEY").
func ParsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: no PEM block in private key", ErrKey)
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
		return nil, fmt.Errorf("%w: %s is encrypted; export it unencrypted (PKCS#8) for hardvm", ErrKey, blk.Type)
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrKey, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrKey, k)
	}
	if _, err := keyAlgorithm(s.Public()); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadPrivateKeyFile reads a private key PEM file (see [ParsePrivateKeyPEM])
// of at most 64 KiB; a larger or non-regular file is refused before it is
// read.
func ReadPrivateKeyFile(path string) (crypto.Signer, error) {
	b, err := readFileLimited("key", path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	k, err := ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// MarshalPrivateKeyPEM encodes k as PKCS#8 PEM.
func MarshalPrivateKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM encodes pub as PKIX "PUBLIC KEY" PEM, the form cosign
// --key and [ParsePublicKeyPEM] read.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM parses a PKIX "PUBLIC KEY" PEM block.
func ParsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: no PUBLIC KEY PEM block", ErrKey)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	if _, err := keyAlgorithm(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// WritePublicKeyFile writes pub as PEM to path atomically.
func WritePublicKeyFile(path string, pub crypto.PublicKey) error {
	b, err := MarshalPublicKeyPEM(pub)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, 0o644, b)
}

// WritePrivateKeyFile writes k as PKCS#8 PEM to path atomically, readable
// by its owner only.
func WritePrivateKeyFile(path string, k crypto.Signer) error {
	b, err := MarshalPrivateKeyPEM(k)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, 0o600, b)
}

// KeyID returns the Sigstore key hint of pub: base64 of the SHA-256 of its
// PKIX DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	h := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(h[:]), nil
}

// keyAlgorithm maps a public key onto the Sigstore algorithm it signs with.
func keyAlgorithm(pub crypto.PublicKey) (protocommon.PublicKeyDetails, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, nil
		case elliptic.P384():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, nil
		case elliptic.P521():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, nil
		}
	case ed25519.PublicKey:
		return protocommon.PublicKeyDetails_PKIX_ED25519, nil
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, nil
		case 3072:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, nil
		case 4096:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256, nil
		}
	}
	return 0, fmt.Errorf("%w: unsupported key %T (want ECDSA P-256/P-384/P-521, Ed25519 or RSA 2048/3072/4096)", ErrKey, pub)
}

// keypair adapts a crypto.Signer to sigstore-go's sign.Keypair.
type keypair struct {
	priv crypto.Signer
	alg  protocommon.PublicKeyDetails
	hash crypto.Hash
	hint []byte
}

var _ sign.Keypair = (*keypair)(nil)

func newKeypair(priv crypto.Signer) (*keypair, error) {
	alg, err := keyAlgorithm(priv.Public())
	if err != nil {
		return nil, err
	}
	id, err := KeyID(priv.Public())
	if err != nil {
		return nil, err
	}
	kp := &keypair{priv: priv, alg: alg, hint: []byte(id), hash: crypto.SHA256}
	switch alg {
	case protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384:
		kp.hash = crypto.SHA384
	case protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512:
		kp.hash = crypto.SHA512
	case protocommon.PublicKeyDetails_PKIX_ED25519:
		kp.hash = 0
	}
	return kp, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm {
	switch k.hash {
	case crypto.SHA384:
		return protocommon.HashAlgorithm_SHA2_384
	case crypto.SHA512:
		return protocommon.HashAlgorithm_SHA2_512
	}
	return protocommon.HashAlgorithm_SHA2_256
}

func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails { return k.alg }
func (k *keypair) GetHint() []byte                                   { return k.hint }
func (k *keypair) GetPublicKey() crypto.PublicKey                    { return k.priv.Public() }

func (k *keypair) GetKeyAlgorithm() string {
	switch k.priv.Public().(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "ED25519"
	}
	return ""
}

func (k *keypair) GetPublicKeyPem() (string, error) {
	b, err := MarshalPublicKeyPEM(k.priv.Public())
	return string(b), err
}

// SignData signs data: its digest for ECDSA and RSA, data itself for
// Ed25519. It returns the signature and what was signed.
func (k *keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	msg := data
	if k.hash != 0 {
		h := k.hash.New()
		h.Write(data)
		msg = h.Sum(nil)
	}
	sig, err := k.priv.Sign(rand.Reader, msg, k.hash)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrSign, err)
	}
	return sig, msg, nil
}
