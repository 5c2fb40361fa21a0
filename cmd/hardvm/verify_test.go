package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// signedDir writes a raw "disk" and its signed attestations into a new
// directory, as hardvm build does.
func signedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(disk, []byte("a tiny disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := provenance.FileDigest(disk)
	if err != nil {
		t.Fatal(err)
	}
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1795000000}
	lock := &artifact.Lock{Spec: spec, Arch: vm.X86_64, Family: vm.Wolfi, Packages: []artifact.Package{{
		Name: "busybox", Version: "1.37.0-r3", Arch: "x86_64",
		SHA256: "sha256:0000000000000000000000000000000000000000000000000000000000000001",
	}}}
	s, err := provenance.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	arts := []artifact.Artifact{{Ref: spec.Ref(), Format: vm.FormatRaw, Path: disk, Digest: d}}
	if err := builddir.Write(context.Background(), dir, builddir.Contents{Lock: lock, Artifacts: arts}, s); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestVerifyCommand(t *testing.T) {
	dir := signedDir(t)
	key := filepath.Join(dir, "key.pub")
	code, out, errs := runCLI(t, "verify", "--key", key, dir)
	if code != 0 || !strings.Contains(out, "builder-id") || !strings.Contains(errs, "1 artifacts verified") {
		t.Fatalf("verify: code %d\n%s\n%s", code, out, errs)
	}
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(policy, []byte("deny:\n  - {name: busybox, versions: \"*\"}\n"), 0o644)
	if code, out, _ := runCLI(t, "verify", "--key", key, "--policy", policy, dir); code != 1 || !strings.Contains(out, "denied package") {
		t.Fatalf("denied package: code %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, "verify", "--key", key, "--json", dir); code != 0 {
		t.Fatalf("--json: code %d", code)
	} else {
		checkJSON(t, "verify", out)
	}
	os.WriteFile(filepath.Join(dir, "disk.raw"), []byte("a tiny disk!"), 0o644)
	if code, out, errs := runCLI(t, "verify", "--key", key, dir); code != 1 || !strings.Contains(out, "subject does not match") {
		t.Fatalf("tampered disk: code %d\n%s\n%s", code, out, errs)
	}
	// Issue 17, item 2: without --key or --trusted-root, DIR/key.pub is not
	// trusted: a usage error, unless --unsafe-key-from-dir says so.
	if code, out, errs := runCLI(t, "verify", dir); code != 2 || !strings.Contains(errs, "--key") || out != "" {
		t.Fatalf("verify without a key: code %d, want 2\n%s%s", code, out, errs)
	}
	if code, out, errs := runCLI(t, "verify", "--unsafe-key-from-dir", dir); code != 1 || !strings.Contains(errs, "proves integrity, not origin") {
		t.Fatalf("verify --unsafe-key-from-dir of a tampered dir: code %d\n%s%s", code, out, errs)
	}
	if code, _, _ := runCLI(t, "verify", "--unsafe-key-from-dir", "--key", key, dir); code != 2 {
		t.Fatalf("--unsafe-key-from-dir with --key: code %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "verify"); code != 2 {
		t.Fatalf("no directory: code %d, want 2", code)
	}
}
