package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/builddir"
)

// Two platforms in one command give two build directories, each verified
// with its own key by 'hardvm verify', and bit-identical in their disks
// and lock to single builds of the same spec for the same platform (the
// builds are reproducible and do not disturb each other through the
// shared package cache). The demo repository's images do not boot: this
// checks the files, not a running machine.
func TestBuildMatrix(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	spec := writeDemoSpec(t, tmp)
	out := filepath.Join(tmp, "out")
	code, stdout, stderr := runCLI(t, "build", "--spec", spec, "--out", out, "--platform", "qemu", "--platform", "nutanix", "--parallel", "2")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, name := range []string{"qemu-x86_64", "nutanix-x86_64"} {
		dir := filepath.Join(out, name)
		if !strings.Contains(stdout, name+"  ") || !strings.Contains(stdout, dir) {
			t.Errorf("summary lacks %s:\n%s", name, stdout)
		}
		// One progress view, each line prefixed with its build.
		if !strings.Contains(stderr, name+": install: ") || !strings.Contains(stderr, name+": export qcow2: ") {
			t.Errorf("progress lacks %s's prefixed stages:\n%s", name, stderr)
		}
		if code, so, se := runCLI(t, "verify", "--key", filepath.Join(dir, builddir.PublicKeyFile), dir); code != 0 {
			t.Errorf("hardvm verify %s: exit %d\n%s%s", dir, code, so, se)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "cache")); err != nil {
		t.Errorf("no shared cache: %v", err)
	}
	// Single build of the spec's own platform (qemu), and one with the spec's platform moved.
	single := filepath.Join(tmp, "single")
	if code, _, stderr := runCLI(t, "-q", "build", "--spec", spec, "--out", single); code != 0 {
		t.Fatalf("single build: exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"disk.raw", "disk.qcow2", "lock.json"} {
		a, err := os.ReadFile(filepath.Join(single, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, "qemu-x86_64", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s of the matrix's qemu-x86_64 differs from the single build's", f)
		}
	}
	n, err := os.ReadFile(filepath.Join(out, "nutanix-x86_64", "lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(n, []byte(`"nutanix"`)) {
		t.Errorf("nutanix-x86_64's lock does not name its platform:\n%.400s", n)
	}
}

// A bad platform, architecture or combination is a usage error found
// before any build starts: nothing is written.
func TestBuildMatrixUsage(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	spec := writeDemoSpec(t, tmp)
	out := filepath.Join(tmp, "out")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--platform", "qemu", "--platform", "qemuu"}, `--platform "qemuu": unknown platform (one of aws,`},
		{[]string{"--arch", "sparc"}, `--arch "sparc": unknown architecture`},
		{[]string{"--platform", "nutanix", "--arch", "aarch64"}, "for nutanix-aarch64"},
		{[]string{"--platform", "qemu", "--parallel", "0"}, "--parallel 0"},
	} {
		code, _, stderr := runCLI(t, append([]string{"build", "--spec", spec, "--out", out}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v: the usage error wrote %s", tc.args, out)
		}
	}
}

// One failing build (aarch64: the demo repository has only x86_64
// packages) is reported with its error while the other's result stands;
// the command exits 1.
func TestBuildMatrixOneFails(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	spec := writeDemoSpec(t, tmp)
	out := filepath.Join(tmp, "out")
	code, stdout, stderr := runCLI(t, "-q", "build", "--json", "--spec", spec, "--out", out, "--arch", "x86_64", "--arch", "aarch64")
	if code != 1 || !strings.Contains(stderr, "1 of 2 builds failed") {
		t.Fatalf("exit %d, want 1 and '1 of 2 builds failed'\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	checkJSON(t, "build", stdout, "labels")
	var res struct {
		Builds []struct {
			Name   string `json:"name"`
			Dir    string `json:"dir"`
			OK     bool   `json:"ok"`
			Error  string `json:"error"`
			Result *struct {
				Ref       string            `json:"ref"`
				Artifacts []json.RawMessage `json:"artifacts"`
			} `json:"result"`
		} `json:"builds"`
		Succeeded int `json:"succeeded"`
		Failed    int `json:"failed"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if len(res.Builds) != 2 || res.Succeeded != 1 || res.Failed != 1 {
		t.Fatalf("--json: %+v", res)
	}
	ok, bad := res.Builds[0], res.Builds[1]
	if ok.Name != "qemu-x86_64" || !ok.OK || ok.Result == nil || len(ok.Result.Artifacts) != 2 || ok.Error != "" {
		t.Errorf("x86_64 build: %+v", ok)
	}
	if bad.Name != "qemu-aarch64" || bad.OK || bad.Result != nil || bad.Error == "" {
		t.Errorf("aarch64 build: %+v", bad)
	}
	if code, so, se := runCLI(t, "verify", "--key", filepath.Join(ok.Dir, builddir.PublicKeyFile), ok.Dir); code != 0 {
		t.Errorf("hardvm verify of the build that succeeded: exit %d\n%s%s", code, so, se)
	}
	// The text summary says the same.
	code, stdout, _ = runCLI(t, "-q", "build", "--spec", spec, "--out", filepath.Join(tmp, "out2"), "--arch", "aarch64", "--arch", "x86_64")
	if code != 1 || !regexpMatch(`qemu-aarch64\s+FAILED`, stdout) || !regexpMatch(`qemu-x86_64\s+ok\s+base/qemu/x86_64`, stdout) ||
		!strings.Contains(stdout, "\nqemu-aarch64: ") {
		t.Errorf("text summary: exit %d\n%s", code, stdout)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// Ctrl-C during a matrix build stops the running build, starts no more
// (--parallel 1: nutanix waits for qemu), leaves no half-written file, and
// the summary says what happened to each.
func TestBuildMatrixInterrupted(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	spec := writeDemoSpec(t, tmp)
	out := filepath.Join(tmp, "out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelWriter{stage: "qemu-x86_64: export qcow2:", cancel: cancel}
	var stdout bytes.Buffer
	code := run(ctx, &env{stdout: &stdout, stderr: stderr}, []string{"build", "--spec", spec, "--out", out, "--platform", "qemu", "--platform", "nutanix", "--parallel", "1"})
	if code != 1 || !strings.Contains(stderr.buf.String(), "2 of 2 builds failed") {
		t.Fatalf("exit %d, want 1 and both builds failed:\n%s\n%s", code, stdout.String(), stderr.buf.String())
	}
	for _, name := range []string{"qemu-x86_64", "nutanix-x86_64"} {
		if !regexpMatch(name+`\s+FAILED`, stdout.String()) || !strings.Contains(stdout.String(), name+": ") {
			t.Errorf("summary lacks %s's failure:\n%s", name, stdout.String())
		}
		if left := halfFiles(t, filepath.Join(out, name)); len(left) > 0 {
			t.Errorf("half-written files left: %v", left)
		}
	}
	if !strings.Contains(stdout.String(), "qemu-x86_64: hardvm: ") || !strings.Contains(stdout.String(), "interrupted") ||
		!strings.Contains(stdout.String(), "nutanix-x86_64: not started: context canceled") {
		t.Errorf("summary does not say qemu was interrupted and nutanix not started:\n%s", stdout.String())
	}
}
