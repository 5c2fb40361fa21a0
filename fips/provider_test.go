package fips

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/internal/testtool"
)

// realProviderDir holds a real OpenSSL FIPS provider: fips.so built from
// OpenSSL's source with enable-fips, and the fipsmodule.cnf that the real
// `openssl fipsinstall` wrote for it. The recipe, version and licence are in
// its README. It is OpenSSL's provider code, but not a CMVP-validated
// version of it.
const realProviderDir = "testdata/openssl-fips-provider"

func realProvider(t *testing.T) (module, moduleCnf []byte) {
	t.Helper()
	module, err := os.ReadFile(filepath.Join(realProviderDir, "fips.so"))
	if err != nil {
		t.Fatal(err)
	}
	moduleCnf, err = os.ReadFile(filepath.Join(realProviderDir, "fipsmodule.cnf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(module, []byte("\x7fELF")) {
		t.Fatalf("%s/fips.so is not an ELF file", realProviderDir)
	}
	return module, moduleCnf
}

// realRoot is the fixture root with the real provider and its real
// fipsmodule.cnf in place of the stand-ins.
func realRoot(t *testing.T, module, moduleCnf []byte) fstest.MapFS {
	t.Helper()
	m := fixture(t)
	m["usr/lib/ossl-modules/fips.so"].Data = module
	m["etc/ssl/fipsmodule.cnf"].Data = moduleCnf
	return m
}

// flipOffsets are the module bytes the tests flip: the first, one in the
// middle and the last.
func flipOffsets(n int) []int { return []int{0, n / 2, n - 1} }

func flipped(module []byte, off int) []byte {
	b := bytes.Clone(module)
	b[off] ^= 0x01
	return b
}

// TestRealProviderMAC: Check accepts the real provider with the
// fipsmodule.cnf the real fipsinstall wrote (module-mac, and OpenSSL 3.0's
// install-mac and install-status), and a flipped byte anywhere in the
// module fails the MAC check and nothing else.
func TestRealProviderMAC(t *testing.T) {
	module, moduleCnf := realProvider(t)
	for _, key := range []string{"module-mac", "install-mac", "install-status"} {
		if !bytes.Contains(moduleCnf, []byte(key+" = ")) {
			t.Fatalf("the real fipsmodule.cnf has no %s:\n%s", key, moduleCnf)
		}
	}
	r, err := Check(context.Background(), realRoot(t, module, moduleCnf))
	if err != nil {
		t.Fatalf("the real provider fails: %v\n%s", err, dump(r))
	}
	for _, res := range r.Results {
		if res.Check == CheckProviderMAC && !strings.Contains(res.Got, "for /usr/lib/ossl-modules/fips.so") {
			t.Errorf("MAC result %+v does not name the module", res)
		}
	}
	for _, off := range flipOffsets(len(module)) {
		r, err := Check(context.Background(), realRoot(t, flipped(module, off), moduleCnf))
		if !errors.Is(err, ErrMAC) {
			t.Errorf("byte %d of %d flipped: err = %v, want ErrMAC", off, len(module), err)
		}
		if got := failing(r); !slices.Equal(got, []CheckName{CheckProviderMAC}) {
			t.Errorf("byte %d flipped: failing checks %v, want only %s\n%s", off, got, CheckProviderMAC, dump(r))
		}
	}
}

// TestRealProviderWithOpenSSL: the real openssl agrees with Check on the
// same files. `openssl fipsinstall -verify` accepts the module with its
// fipsmodule.cnf and refuses it with a flipped byte; libcrypto loads the
// provider through the openssl.cnf OpenSSLConfig writes and serves SHA-256
// but not MD5 from it (fips=yes), and with a flipped byte the provider's own
// integrity self-test keeps it from loading, so nothing serves SHA-256.
func TestRealProviderWithOpenSSL(t *testing.T) {
	testtool.Require(t, "openssl")
	module, moduleCnf := realProvider(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cnf := write("fipsmodule.cnf", moduleCnf)
	// The host's libcrypto has no jitter entropy source: seed as it can.
	mainCnf := write("openssl.cnf", bytes.Replace(OpenSSLConfig(cnf), []byte("seed = JITTER\n"), nil, 1))
	data := write("data", []byte("hardvm"))
	openssl := func(modDir string, args ...string) (string, int) {
		cmd := exec.Command("openssl", args...)
		cmd.Env = append(os.Environ(), "OPENSSL_CONF="+mainCnf, "OPENSSL_MODULES="+modDir)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &ee) && ee.Exited():
			return string(out), ee.ExitCode()
		}
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
		return "", -1
	}
	for _, tc := range []struct {
		name   string
		module []byte
		good   bool
	}{
		{"real module", module, true},
		{"byte 0 flipped", flipped(module, 0), false},
		{"middle byte flipped", flipped(module, len(module)/2), false},
		{"last byte flipped", flipped(module, len(module)-1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			modDir := filepath.Join(dir, tc.name)
			mod := write(filepath.Join(tc.name, "fips.so"), tc.module)
			out, status := testtool.Exit(t, "openssl", "fipsinstall", "-module", mod, "-in", cnf, "-verify")
			if verified := status == 0 && strings.Contains(out, "VERIFY PASSED"); verified != tc.good {
				t.Errorf("openssl fipsinstall -verify: status %d, want verified = %v:\n%s", status, tc.good, out)
			}
			if !tc.good && !strings.Contains(out, "Module integrity mismatch") {
				t.Errorf("openssl fipsinstall -verify does not say why:\n%s", out)
			}
			out, status = openssl(modDir, "list", "-providers")
			active := status == 0 && strings.Contains(out, "name: OpenSSL FIPS Provider\n    version: 3.0.22\n    status: active")
			if active != tc.good {
				t.Errorf("openssl list -providers: status %d, want the 3.0.22 FIPS provider active = %v:\n%s", status, tc.good, out)
			}
			// With fips=yes and only the base provider besides, SHA-256 comes
			// from the FIPS provider or from nowhere.
			out, status = openssl(modDir, "dgst", "-sha256", data)
			if served := status == 0 && strings.Contains(out, "SHA2-256("); served != tc.good {
				t.Errorf("openssl dgst -sha256: status %d, want served = %v:\n%s", status, tc.good, out)
			}
			if out, status := openssl(modDir, "dgst", "-md5", data); status == 0 {
				t.Errorf("MD5 with fips=yes is served:\n%s", out)
			}
		})
	}
}
