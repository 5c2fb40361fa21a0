package debrepo

import (
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apktest"
)

// dockerTrustKey returns the key.json Docker 20.10 reads from /etc/docker
// (libtrust's JWK of an ECDSA P-256 key, with libtrust's key ID), made
// from seed: the same repository, the same bytes.
func dockerTrustKey(seed string) ([]byte, error) {
	d := sha256.Sum256([]byte("hardvm debrepo docker trust key " + seed))
	// A scalar below P-256's order: a SHA-256 of this seed is (the
	// chance that one is not is 2^-32); NewPrivateKey checks.
	priv, err := ecdh.P256().NewPrivateKey(d[:])
	if err != nil {
		return nil, err
	}
	pub := priv.PublicKey().Bytes() // 0x04 || X || Y
	der, err := x509.MarshalPKIXPublicKey(priv.PublicKey())
	if err != nil {
		return nil, err
	}
	// libtrust's key ID: the first 240 bits of the SHA-256 of the DER
	// public key, base32, in twelve groups of four.
	h := sha256.Sum256(der)
	enc := strings.TrimRight(base32.StdEncoding.EncodeToString(h[:30]), "=")
	groups := make([]string, 0, 12)
	for i := 0; i < len(enc); i += 4 {
		groups = append(groups, enc[i:i+4])
	}
	b64 := base64.RawURLEncoding.EncodeToString
	b, err := json.Marshal(map[string]string{"crv": "P-256", "d": b64(d[:]), "kid": strings.Join(groups, ":"), "kty": "EC", "x": b64(pub[1:33]), "y": b64(pub[33:])})
	if err != nil {
		return nil, fmt.Errorf("%w: docker trust key: %w", ErrRepackage, err)
	}
	return b, nil
}

// dockerKeyFile is docker.io's /etc/docker/key.json (see the package
// documentation).
func dockerKeyFile() apktest.File {
	b, err := dockerTrustKey(fmt.Sprint(keySeed))
	if err != nil {
		panic(err) // a fixed seed: covered by TestDockerTrustKey
	}
	return apktest.File{Name: "etc/docker/key.json", Mode: 0o600, Data: b}
}
