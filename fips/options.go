package fips

import (
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
)

// Option configures [Check].
type Option func(*options) error

type options struct {
	log          *slog.Logger
	opensslConf  string
	moduleKey    []byte
	modulePaths  []string
	cmdlines     []string
	loaderGlobs  []string
	javaSecurity []string
	deny         []string
	maxFile      int64
	maxModule    int64
}

// DefaultDenyList names the packages of non-validated crypto libraries a
// FIPS image must not install: libraries applications would use instead of
// the validated module. Patterns are path.Match patterns on package names.
func DefaultDenyList() []string {
	return []string{
		"gnutls", "gnutls-*", "libgnutls*",
		"nettle", "libnettle*", "libhogweed*",
		"nss", "nss-tools", "nss-dev",
		"libressl", "libressl*",
		"mbedtls", "mbedtls-*", "libmbed*",
		"wolfssl", "wolfssl-*",
		"libsodium", "libsodium-*",
		"botan", "botan-*", "libbotan*",
		"libgcrypt", "libgcrypt-*",
		"bouncycastle", "bcprov-*",
		"boringssl", "boringssl-*",
	}
}

func defaultOptions() options {
	key, _ := hex.DecodeString(DefaultModuleKey)
	return options{
		log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		opensslConf: "/etc/ssl/openssl.cnf",
		moduleKey:   key,
		modulePaths: []string{
			"/usr/lib/ossl-modules/fips.so",
			"/usr/lib/ossl-modules-3/fips.so",
			"/usr/lib64/ossl-modules/fips.so",
		},
		cmdlines: []string{"/etc/kernel/cmdline", "/usr/lib/kernel/cmdline"},
		loaderGlobs: []string{
			"/boot/loader/entries/*.conf",
			"/efi/loader/entries/*.conf",
			"/boot/efi/loader/entries/*.conf",
		},
		javaSecurity: nil, // found with javaSecurityGlobs
		deny:         DefaultDenyList(),
		maxFile:      4 << 20,
		maxModule:    512 << 20,
	}
}

func absolute(what, p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%w: %s %q is not an absolute path in the image", ErrOption, what, p)
	}
	return path.Clean(p), nil
}

// WithLogger logs what the checks read at debug level.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		o.log = l
		return nil
	}
}

// WithOpenSSLConfig sets the path of openssl.cnf in the image (default
// /etc/ssl/openssl.cnf, Wolfi's OPENSSLDIR).
func WithOpenSSLConfig(p string) Option {
	return func(o *options) error {
		a, err := absolute("openssl.cnf", p)
		o.opensslConf = a
		return err
	}
}

// WithModuleKey sets the HMAC key of the provider's integrity check, in hex,
// for a provider built with `Configure --fips-key` (default
// [DefaultModuleKey]).
func WithModuleKey(hexKey string) Option {
	return func(o *options) error {
		k, err := hex.DecodeString(hexKey)
		if err != nil || len(k) < 14 {
			return fmt.Errorf("%w: module key must be hex of at least 112 bits", ErrOption)
		}
		o.moduleKey = k
		return nil
	}
}

// WithModulePath sets where the FIPS provider module is looked for when the
// provider's section of the configuration names no `module` (default
// /usr/lib/ossl-modules/fips.so and the ossl-modules-3 and lib64 variants).
func WithModulePath(paths ...string) Option {
	return func(o *options) error {
		o.modulePaths = nil
		for _, p := range paths {
			a, err := absolute("module path", p)
			if err != nil {
				return err
			}
			o.modulePaths = append(o.modulePaths, a)
		}
		if len(o.modulePaths) == 0 {
			return fmt.Errorf("%w: no module path", ErrOption)
		}
		return nil
	}
}

// WithKernelCmdline adds files holding a kernel command line to check for
// fips=1 (default: /etc/kernel/cmdline, /usr/lib/kernel/cmdline, and the
// options lines of Boot Loader Specification entries in /boot/loader/entries
// and /efi/loader/entries).
func WithKernelCmdline(paths ...string) Option {
	return func(o *options) error {
		for _, p := range paths {
			a, err := absolute("kernel command line", p)
			if err != nil {
				return err
			}
			o.cmdlines = append(o.cmdlines, a)
		}
		return nil
	}
}

// WithJavaSecurity sets the java.security files to check instead of those
// found under /usr/lib/jvm.
func WithJavaSecurity(paths ...string) Option {
	return func(o *options) error {
		o.javaSecurity = nil
		for _, p := range paths {
			a, err := absolute("java.security", p)
			if err != nil {
				return err
			}
			o.javaSecurity = append(o.javaSecurity, a)
		}
		return nil
	}
}

// WithDenyList replaces the deny-list of non-validated crypto packages
// ([DefaultDenyList]) with path.Match patterns on package names.
func WithDenyList(patterns ...string) Option {
	return func(o *options) error {
		for _, p := range patterns {
			if _, err := path.Match(p, ""); err != nil || strings.TrimSpace(p) == "" {
				return fmt.Errorf("%w: deny-list pattern %q", ErrOption, p)
			}
		}
		o.deny = append([]string(nil), patterns...)
		return nil
	}
}

// WithMaxFileSize bounds the configuration files and package database read
// (default 4 MiB each); larger ones fail with ErrTooLarge.
func WithMaxFileSize(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: max file size %d", ErrOption, n)
		}
		o.maxFile = n
		return nil
	}
}
