package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/internal/testtool"
)

// fipsRoot writes a small FIPS root file system to a directory: the
// provider module and its fipsmodule.cnf, openssl.cnf behind an absolute
// link (as merged-/usr images have them), libjitterentropy and an installed
// database.
func fipsRoot(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	module := bytes.Repeat([]byte("\x7fELF fips provider stand-in "), 4096)
	modCnf, err := fips.ModuleConfig(context.Background(), bytes.NewReader(module))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"usr/lib/ossl-modules/fips.so":      module,
		"etc/ssl/fipsmodule.cnf":            modCnf,
		"usr/share/ssl/openssl.cnf":         fips.OpenSSLConfig("/etc/ssl/fipsmodule.cnf"),
		"usr/lib/libjitterentropy.so.3.6.3": []byte("\x7fELF"),
		"usr/lib/apk/db/installed":          []byte("P:openssl-provider-fips-3.1.2\nV:3.1.2-r3\n\nP:jitterentropy-library\nV:3.6.3-r2\n"),
		"etc/kernel/cmdline":                []byte("ro quiet\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"etc/ssl/openssl.cnf":           "/usr/share/ssl/openssl.cnf",
		"usr/lib/libjitterentropy.so.3": "libjitterentropy.so.3.6.3",
		"lib":                           "usr/lib",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// gnuTar packs dir with the real tar, as a rootfs tarball is made.
func gnuTar(t *testing.T, dir string, args ...string) string {
	out := filepath.Join(t.TempDir(), "rootfs.tar")
	if len(args) > 0 && args[0] == "-z" {
		out += ".gz"
	}
	testtool.Run(t, "tar", append(append([]string{"-C", dir}, args...), "-cf", out, ".")...)
	return out
}

func TestFIPSCheckCLI(t *testing.T) {
	testtool.Require(t, "tar", "mkfs.erofs")
	root := fipsRoot(t)
	plain := gnuTar(t, root)
	gz := gnuTar(t, root, "-z")
	// The root partition of a hardvm disk: EROFS, made here by the real
	// mkfs.erofs and read in place.
	img := filepath.Join(t.TempDir(), "root.erofs")
	testtool.Run(t, "mkfs.erofs", "-T0", img, root)
	for _, arg := range []string{plain, gz, root, img} {
		code, out, errs := runCLI(t, "fips", "check", arg)
		if code != 0 || !strings.Contains(out, "FIPS (kernel-independent): PASS") {
			t.Fatalf("%s: exit %d\n%s\n%s", arg, code, out, errs)
		}
	}

	code, out, _ := runCLI(t, "fips", "check", "--json", plain)
	checkJSON(t, "fips check", out)
	var r fips.Report
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || !r.Passed() {
		t.Fatalf("--json: exit %d: %s", code, out)
	}

	// A flipped byte in the module fails the MAC check: exit 1, and the
	// report names the file.
	mod := filepath.Join(root, "usr/lib/ossl-modules/fips.so")
	data, _ := os.ReadFile(mod)
	data[1000] ^= 0x20
	if err := os.WriteFile(mod, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "fips", "check", gnuTar(t, root))
	if code != 1 || !strings.Contains(out, "fail            openssl-provider-mac /etc/ssl/fipsmodule.cnf") ||
		!strings.Contains(errs, "1 of 9 checks failed") {
		t.Fatalf("tampered: exit %d\n%s\n%s", code, out, errs)
	}

	// A deny-list that names an installed package.
	code, _, errs = runCLI(t, "fips", "check", "--deny", "jitterentropy-*", root)
	if code != 1 || !strings.Contains(errs, "checks failed") {
		t.Fatalf("--deny: exit %d: %s", code, errs)
	}
}

func TestFIPSCheckCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fips"}, 2, "a subcommand is required: check"},
		{[]string{"fips", "check"}, 2, "exactly one"},
		{[]string{"fips", "check", "--openssl-config", "etc/ssl/openssl.cnf", "."}, 2, "not an absolute path"},
		{[]string{"fips", "check", "missing.tar"}, 1, "missing.tar"},
		{[]string{"fips", "check", "testdata/fleet.json"}, 1, "want a raw disk, a root file system as tar or tar.gz, an EROFS"},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tc.args, code, tc.code, tc.want, out, errs)
		}
	}
}

// The in-memory tree keeps links inside the root and reads what tar wrote.
func TestReadTarLinks(t *testing.T) {
	testtool.Require(t, "tar")
	root := fipsRoot(t)
	f, err := os.Open(gnuTar(t, root))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := readTar(f)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"etc/ssl/openssl.cnf":       "openssl_conf = openssl_init",
		"lib/libjitterentropy.so.3": "\x7fELF",
	} {
		data, err := fsReadFile(m, name)
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("%s: %q, %v", name, data, err)
		}
	}
	if target, err := m.ReadLink("etc/ssl/openssl.cnf"); err != nil || target != "/usr/share/ssl/openssl.cnf" {
		t.Errorf("ReadLink: %q, %v", target, err)
	}
	// The standard library's file system conformance test.
	if err := fstest.TestFS(m, "etc/ssl/fipsmodule.cnf", "usr/lib/ossl-modules/fips.so", "etc/ssl/openssl.cnf"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open("../etc/passwd"); err == nil {
		t.Error("opened a path outside the root")
	}
}

func fsReadFile(m *memFS, name string) ([]byte, error) {
	f, err := m.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(f)
	return b.Bytes(), err
}
