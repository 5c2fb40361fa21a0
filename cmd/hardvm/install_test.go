package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/internal/testtool"
)

func TestInstallCommand(t *testing.T) {
	testtool.Require(t, "tar")
	dir := t.TempDir()
	repo := apktest.NewRepository(filepath.Join(dir, "repo"), "x86_64", apktest.NewKey("cli-test", 3))
	repo.Add(
		apktest.Package{Name: "hello", Version: "1.0-r0", Depends: []string{"libhello"}, Files: []apktest.File{
			{Name: "usr/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hello\n")},
		}},
		apktest.Package{Name: "libhello", Version: "2-r1", Files: []apktest.File{{Name: "usr/lib/libhello.so", Data: []byte("lib")}}},
	)
	if err := repo.Write(); err != nil {
		t.Fatal(err)
	}
	out, lock := filepath.Join(dir, "rootfs.tar"), filepath.Join(dir, "lock.json")
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr}
	args := []string{"install", "--repository", repo.Dir, "--keyring", repo.KeyPath(), "--arch", "x86_64", "--out", out, "--lock", lock, "--json", "hello"}
	if code := run(context.Background(), e, args); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	checkJSON(t, "install", stdout.String())
	var sum map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil || sum["packages"] != float64(2) {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	list, err := exec.Command("tar", "-tvf", out).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -tvf: %v\n%s", err, list)
	}
	for _, want := range []string{"usr/bin/hello", "usr/lib/libhello.so", "usr/lib/apk/db/installed", "etc/apk/keys/cli-test.rsa.pub"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("tar lacks %s:\n%s", want, list)
		}
	}
	first, _ := os.ReadFile(out)
	// Same inputs: same bytes.
	stdout.Reset()
	if code := run(context.Background(), e, args); code != 0 {
		t.Fatalf("second run: exit %d", code)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(first, again) {
		t.Error("two installs of the same packages differ")
	}

	if strings.Contains(string(list), "etc/os-release") {
		t.Errorf("a tree of no known family got an os-release:\n%s", list)
	}
	// Of a known family, the tar names its distribution (issue 19: the
	// rootfs tar had no os-release, so scanners saw no OS).
	fam := append([]string{"install", "--family", "wolfi"}, args[1:]...)
	if code := run(context.Background(), e, fam); code != 0 {
		t.Fatalf("--family wolfi: exit %d: %s", code, stderr.String())
	}
	osRelease, err := exec.Command("tar", "-xOf", out, "etc/os-release").CombinedOutput()
	if err != nil || !strings.Contains(string(osRelease), "ID=wolfi\n") {
		t.Errorf("--family wolfi: etc/os-release %q: %v", osRelease, err)
	}

	// An untrusted key: exit 1 and no output file.
	other := apktest.NewKey("other", 4)
	kp := filepath.Join(dir, other.Name)
	os.WriteFile(kp, other.PublicPEM(), 0o644)
	out2 := filepath.Join(dir, "bad.tar")
	stderr.Reset()
	code := run(context.Background(), e, []string{"install", "--repository", repo.Dir, "--keyring", kp, "--arch", "x86_64", "--out", out2, "hello"})
	if code != 1 || !strings.Contains(stderr.String(), "untrusted signer") {
		t.Fatalf("untrusted key: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Fatal("a failed install left an output file")
	}
	// Bad usage: exit 2.
	if code := run(context.Background(), e, []string{"install", "--arch", "x86_64", "hello"}); code != 2 {
		t.Fatalf("missing --out: exit %d, want 2", code)
	}
}
