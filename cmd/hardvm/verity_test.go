package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIVerity(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	b := make([]byte, 300*4096)
	for i := range b {
		b[i] = byte(i*31 + i>>12)
	}
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	hash := filepath.Join(dir, "hash")
	code, out, errs := runCLI(t, "verity", "format", "--salt", "00112233", "--uuid", "12345678-9abc-def0-1234-56789abcdef0", data, hash)
	root := strings.TrimSpace(out)
	if code != 0 || len(root) != 64 {
		t.Fatalf("verity format: exit %d, stdout %q, stderr %s", code, out, errs)
	}
	if code, out, errs := runCLI(t, "verity", "verify", data, hash, root); code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("verity verify: exit %d\n%s%s", code, out, errs)
	}
	b[150*4096+7] ^= 1
	os.WriteFile(data, b, 0o644)
	if code, _, errs := runCLI(t, "verity", "verify", data, hash, root); code != 1 || !strings.Contains(errs, "data block 150") {
		t.Fatalf("verity verify of a flipped byte: exit %d, stderr %s", code, errs)
	}
	for _, args := range [][]string{
		{"verity"},
		{"verity", "frobnicate"},
		{"verity", "format", data},
		{"verity", "format", "--salt", "xyz", data, hash},
		{"verity", "format", "--uuid", "nope", data, hash},
		{"verity", "verify", data, hash, "beef"},
	} {
		if code, _, errs := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, errs)
		}
	}
}
