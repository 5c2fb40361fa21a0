package apk

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Keyring holds the public keys a caller trusts, by the file name the
// signatures refer to them with (alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub,
// wolfi-signing.rsa.pub). The zero Keyring trusts nothing.
type Keyring struct {
	keys map[string]*rsa.PublicKey
	pems map[string][]byte
}

// NewKeyring returns an empty keyring.
func NewKeyring() *Keyring { return &Keyring{} }

// Add trusts the PEM-encoded RSA public key (PKIX "PUBLIC KEY" or PKCS#1
// "RSA PUBLIC KEY") under name.
func (k *Keyring) Add(name string, pemBytes []byte) error {
	if name == "" || name != filepath.Base(name) {
		return fmt.Errorf("%w: key name %q must be a plain file name", ErrKey, name)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return fmt.Errorf("%w: %s: no PEM block", ErrKey, name)
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrKey, name, err)
		}
		var ok bool
		if pub, ok = key.(*rsa.PublicKey); !ok {
			return fmt.Errorf("%w: %s: not an RSA key (%T)", ErrKey, name, key)
		}
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrKey, name, err)
		}
		pub = key
	default:
		return fmt.Errorf("%w: %s: PEM block %q, want PUBLIC KEY", ErrKey, name, block.Type)
	}
	if pub.N.BitLen() < 2048 {
		return fmt.Errorf("%w: %s: %d-bit RSA key is too weak (want 2048 bits or more)", ErrKey, name, pub.N.BitLen())
	}
	if k.keys == nil {
		k.keys = map[string]*rsa.PublicKey{}
		k.pems = map[string][]byte{}
	}
	k.keys[name] = pub
	k.pems[name] = append([]byte(nil), pemBytes...)
	return nil
}

// AddFile trusts the key in file path, named by its base name.
func (k *Keyring) AddFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKey, err)
	}
	return k.Add(filepath.Base(path), b)
}

// LoadKeyring returns a keyring with the keys in the given files.
func LoadKeyring(paths ...string) (*Keyring, error) {
	k := NewKeyring()
	for _, p := range paths {
		if err := k.AddFile(p); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Names returns the names of the trusted keys, sorted.
func (k *Keyring) Names() []string {
	if k == nil {
		return nil
	}
	out := make([]string, 0, len(k.keys))
	for n := range k.keys {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PEM returns the key called name as it was added, for writing into
// /etc/apk/keys.
func (k *Keyring) PEM(name string) ([]byte, bool) {
	if k == nil {
		return nil, false
	}
	b, ok := k.pems[name]
	return b, ok
}

func (k *Keyring) key(name string) *rsa.PublicKey {
	if k == nil {
		return nil
	}
	return k.keys[name]
}

// signature is one .SIGN.* entry of a signature stream.
type signature struct {
	alg  crypto.Hash // SHA1 for .SIGN.RSA., SHA256 for .SIGN.RSA256.
	key  string
	data []byte
}

// parseSignatureName parses ".SIGN.RSA.<key>" and ".SIGN.RSA256.<key>".
func parseSignatureName(name string) (crypto.Hash, string, bool) {
	const rsa256, rsa1 = ".SIGN.RSA256.", ".SIGN.RSA."
	switch {
	case len(name) > len(rsa256) && name[:len(rsa256)] == rsa256:
		return crypto.SHA256, name[len(rsa256):], true
	case len(name) > len(rsa1) && name[:len(rsa1)] == rsa1:
		return crypto.SHA1, name[len(rsa1):], true
	}
	return 0, "", false
}

// verifySignatures checks that at least one signature by a trusted key
// verifies over the digests given (by algorithm). With no trusted signer
// it returns a *SignerError naming the keys; with a trusted signer whose
// signature fails, ErrSignature. It returns the name of the key that
// verified.
func verifySignatures(k *Keyring, what string, sigs []signature, digests map[crypto.Hash][]byte) (string, error) {
	if len(sigs) == 0 {
		return "", fmt.Errorf("%w: %s has no signature", ErrUnsigned, what)
	}
	var wanted []string
	var bad error
	for _, s := range sigs {
		pub := k.key(s.key)
		if pub == nil {
			wanted = append(wanted, s.key)
			continue
		}
		d, ok := digests[s.alg]
		if !ok {
			continue
		}
		if err := rsa.VerifyPKCS1v15(pub, s.alg, d, s.data); err != nil {
			bad = fmt.Errorf("%w: %s: signature by %s does not verify", ErrSignature, what, s.key)
			continue
		}
		return s.key, nil
	}
	if bad != nil {
		return "", bad
	}
	return "", &SignerError{What: what, Keys: wanted}
}
