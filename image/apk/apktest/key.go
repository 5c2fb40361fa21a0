package apktest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
)

// Key is an RSA signing key as abuild uses them: a private key and the
// name under which its public half is published (NAME.rsa.pub).
type Key struct {
	Name    string // e.g. "hardvm-test.rsa.pub"; signatures are .SIGN.RSA256.<Name>
	Private *rsa.PrivateKey
}

var keyCache sync.Map // seed+name -> *Key

// NewKey returns a 2048-bit RSA key derived from seed alone, so repositories
// signed with it are reproducible. name is the public key's file name; it
// gets the ".rsa.pub" suffix if it lacks one. The same seed gives the same
// key. Test keys only: the seed is the whole secret.
func NewKey(name string, seed uint64) *Key {
	if len(name) < 8 || name[len(name)-8:] != ".rsa.pub" {
		name += ".rsa.pub"
	}
	if k, ok := keyCache.Load(fmt.Sprint(seed)); ok {
		return &Key{Name: name, Private: k.(*rsa.PrivateKey)}
	}
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	s = sha256.Sum256(s[:])
	r := rand.NewChaCha8(s)
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for {
		p, q := prime(r, 1024), prime(r, 1024)
		if p.Cmp(q) == 0 {
			continue
		}
		pm, qm := new(big.Int).Sub(p, one), new(big.Int).Sub(q, one)
		phi := new(big.Int).Mul(pm, qm)
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != 2048 {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
		k.Precompute()
		if err := k.Validate(); err != nil {
			continue
		}
		keyCache.Store(fmt.Sprint(seed), k)
		return &Key{Name: name, Private: k}
	}
}

func prime(r *rand.ChaCha8, bits int) *big.Int {
	buf := make([]byte, bits/8)
	for {
		r.Read(buf)
		buf[0] |= 0xc0
		buf[len(buf)-1] |= 1
		p := new(big.Int).SetBytes(buf)
		if p.ProbablyPrime(20) {
			return p
		}
	}
}

// PublicPEM returns the public key in PEM (PKIX), as in /etc/apk/keys.
func (k *Key) PublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		panic(err) // cannot happen for an RSA key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign returns the RSA PKCS#1 v1.5 signature over the SHA-256 of data, as
// abuild-sign makes .SIGN.RSA256 entries.
func (k *Key) sign(data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return rsa.SignPKCS1v15(nil, k.Private, crypto.SHA256, sum[:])
}
