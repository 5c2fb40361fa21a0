package fips

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// Our HMAC of a module equals what the real openssl computes with the FIPS
// module key, through both `openssl mac` and `openssl dgst -mac HMAC` (the
// command OpenSSL's own build scripts use to embed the module MAC).
func TestModuleMACMatchesOpenSSL(t *testing.T) {
	testtool.Require(t, "openssl")
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4096, 300 << 10} {
		mod := moduleBytes(size)
		if size == 0 {
			mod = nil
		}
		file := filepath.Join(dir, "fips.so")
		if err := os.WriteFile(file, mod, 0o644); err != nil {
			t.Fatal(err)
		}
		ours, err := ModuleMAC(context.Background(), bytes.NewReader(mod), mustHex(DefaultModuleKey))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(FormatMAC(ours), ":", "")

		out := testtool.Run(t, "openssl", "mac", "-digest", "SHA256", "-macopt", "hexkey:"+DefaultModuleKey, "-in", file, "HMAC")
		if got := strings.ToUpper(strings.TrimSpace(out)); got != want {
			t.Errorf("size %d: openssl mac = %s, ours %s", size, got, want)
		}
		out = testtool.Run(t, "openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+DefaultModuleKey, file)
		m := regexp.MustCompile(`= ([0-9a-f]{64})`).FindStringSubmatch(out)
		if m == nil || strings.ToUpper(m[1]) != want {
			t.Errorf("size %d: openssl dgst = %q, ours %s", size, out, want)
		}
	}
}

// The openssl.cnf we write is one the real libcrypto parses: `openssl list`
// loads it (with the fips provider section pointing to a module the host may
// not have, so we check the parse, not the load).
func TestOpenSSLConfigParsesWithOpenSSL(t *testing.T) {
	testtool.Require(t, "openssl")
	dir := t.TempDir()
	cnf, err := ModuleConfig(context.Background(), bytes.NewReader(moduleBytes(1024)))
	if err != nil {
		t.Fatal(err)
	}
	fipsCnf := filepath.Join(dir, "fipsmodule.cnf")
	if err := os.WriteFile(fipsCnf, cnf, 0o644); err != nil {
		t.Fatal(err)
	}
	// Drop the activation: the host has no FIPS provider to load, and we only
	// want libcrypto's parser to accept the syntax.
	main := strings.NewReplacer("fips = fips_sect\n", "", "seed = JITTER\n", "").Replace(string(OpenSSLConfig(fipsCnf)))
	mainCnf := filepath.Join(dir, "openssl.cnf")
	if err := os.WriteFile(mainCnf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "list", "-providers")
	cmd.Env = append(os.Environ(), "OPENSSL_CONF="+mainCnf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl rejects our config: %v\n%s", err, out)
	}
	// Only base is active: the default provider is not loaded behind it.
	if !strings.Contains(string(out), "base") || strings.Contains(string(out), "default") {
		t.Fatalf("providers with our config:\n%s", out)
	}
	// And our parser reads the same file the same way.
	c, err := parseOpenSSLConfigBytes(mainCnf, []byte(main))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.section("algorithm_sect").get("default_properties"); v != "fips=yes" {
		t.Fatalf("default_properties = %q", v)
	}
}

func TestParseMAC(t *testing.T) {
	mac := mustHex(DefaultModuleKey)
	for _, s := range []string{FormatMAC(mac), strings.ToLower(FormatMAC(mac)), DefaultModuleKey} {
		got, err := ParseMAC(s)
		if err != nil || !bytes.Equal(got, mac) {
			t.Errorf("ParseMAC(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "zz", "A:B:C", ":"} {
		if _, err := ParseMAC(s); err == nil {
			t.Errorf("ParseMAC(%q) accepted", s)
		}
	}
}
