package fips

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// DefaultModuleKey is the HMAC-SHA256 key of OpenSSL's FIPS module integrity
// check, in hex: FIPSKEY in OpenSSL's Configure, compiled into the provider
// and used by `openssl fipsinstall` to compute the module-mac it writes to
// fipsmodule.cnf. It is published, not secret: the MAC detects accidental
// change, not an attacker. A vendor that builds with `--fips-key` has
// another; pass it with [WithModuleKey].
const DefaultModuleKey = "f4556650ac31d35461610bac4ed81b1a181b2d8a43ea2854cbae22ca74560813"

// installStatus is the install-status value fipsinstall writes after the
// self-tests ran; install-mac is its HMAC under the module key.
const installStatus = "INSTALL_SELF_TEST_KATS_RUN"

// ModuleMAC returns the HMAC-SHA256 of the module read from r under key, the
// value `openssl fipsinstall` records as module-mac. It streams r and stops
// early when ctx is done.
func ModuleMAC(ctx context.Context, r io.Reader, key []byte) ([]byte, error) {
	h := hmac.New(sha256.New, key)
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return h.Sum(nil), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// FormatMAC formats a MAC as fipsmodule.cnf does: upper-case hex bytes
// separated by colons.
func FormatMAC(mac []byte) string {
	var b strings.Builder
	for i, c := range mac {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// ParseMAC reads a MAC as fipsmodule.cnf writes it (hex bytes, with or
// without colons, any case).
func ParseMAC(s string) ([]byte, error) {
	clean := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: MAC %q is not colon-separated hex", ErrParse, trunc(s, 40))
	}
	return b, nil
}

// ModuleConfig returns a fipsmodule.cnf for the module read from r, as
// `openssl fipsinstall -module FILE -out fipsmodule.cnf` writes it with the
// default key: the [fips_sect] section that activates the provider and
// records its module-mac. Builders of test repositories use it; real images
// get the file from the provider's package.
func ModuleConfig(ctx context.Context, r io.Reader) ([]byte, error) {
	key, _ := hex.DecodeString(DefaultModuleKey)
	mac, err := ModuleMAC(ctx, r, key)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "[fips_sect]\nactivate = 1\ninstall-version = 1\nconditional-errors = 1\nsecurity-checks = 1\nmodule-mac = %s\n", FormatMAC(mac))
	return b.Bytes(), nil
}

// OpenSSLConfig returns an openssl.cnf that selects the FIPS provider the
// way Wolfi's openssl-config-fipshardened does: it includes fipsModuleConf
// (an absolute path, usually /etc/ssl/fipsmodule.cnf), activates the fips
// and base providers and no other, makes fips=yes the default property query
// and seeds from the jitter entropy source.
func OpenSSLConfig(fipsModuleConf string) []byte {
	return []byte(`config_diagnostics = 1
openssl_conf = openssl_init

.include ` + fipsModuleConf + `

[openssl_init]
providers = provider_sect
alg_section = algorithm_sect
random = random

[random]
seed = JITTER

[provider_sect]
fips = fips_sect
base = base_sect

[base_sect]
activate = 1

[algorithm_sect]
default_properties = fips=yes
`)
}
