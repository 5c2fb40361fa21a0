package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/provenance"
	"github.com/spf13/cobra"

	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/vm"
)

// writeDemoSpec writes the demo repository and a spec that builds a base
// image for QEMU (raw and qcow2) from it, and returns the spec's path.
func writeDemoSpec(t *testing.T, dir string) string {
	t.Helper()
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(dir, "repo"), vm.X86_64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return writeSpec(t, filepath.Join(dir, "spec.yaml"), repo)
}

// writeSpec writes a spec for a base image for QEMU from repo, with
// packages added to the variant's.
func writeSpec(t *testing.T, path string, repo vm.Repository, packages ...string) string {
	t.Helper()
	pkgs := ""
	if len(packages) > 0 {
		pkgs = fmt.Sprintf("packages: [%s]\n", strings.Join(packages, ", "))
	}
	spec := fmt.Sprintf(`variant: base
platform: qemu
arch: x86_64
repositories:
  - url: %s
    keys: [%s]
    family: wolfi
%sformats: [qcow2]
source_date_epoch: 1763856000
size: 256MiB
`, repo.URL, repo.Keys[0], pkgs)
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// halfFiles returns the temporary files left in dir.
func halfFiles(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".tmp") {
			left = append(left, path)
		}
		return nil
	})
	return left
}

func TestBuildEndToEnd(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	spec := writeDemoSpec(t, tmp)
	out := filepath.Join(tmp, "out")

	code, stdout, stderr := runCLI(t, "build", "--spec", spec, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// The table: a header, then raw and qcow2, signed and verified, with
	// shortened digests of the files on disk.
	lines := strings.Split(stdout, "\n")
	if !regexp.MustCompile(`^ARTIFACT\s+FORMAT\s+SIZE\s+SHA-256\s+SIGNED\s+VERIFIED$`).MatchString(lines[0]) {
		t.Fatalf("table header %q", lines[0])
	}
	for i, f := range []string{"raw", "qcow2"} {
		row := regexp.MustCompile(`^disk\.` + f + `\s+` + f + `\s+\d+(\.\d)? [KMG]?i?B\s+([0-9a-f]{6})…([0-9a-f]{6})\s+yes\s+yes$`).FindStringSubmatch(lines[1+i])
		if row == nil {
			t.Fatalf("row %d: %q", i+1, lines[1+i])
		}
		if _, err := os.Stat(filepath.Join(out, "disk."+f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stdout, "base/qemu/x86_64") || !strings.Contains(stdout, "lock.json") ||
		!strings.Contains(stdout, "hardvm verify --key "+filepath.Join(out, "key.pub")+" "+out) {
		t.Errorf("summary lacks the ref or the key:\n%s", stdout)
	}
	// What the build wrote verifies with the key it wrote.
	if code, stdout, stderr := runCLI(t, "verify", "--key", filepath.Join(out, "key.pub"), out); code != 0 {
		t.Errorf("hardvm verify of the build: exit %d\n%s%s", code, stdout, stderr)
	}
	// Progress went to stderr as plain lines (it is not a terminal).
	for _, stage := range []string{"install: ", "erofs: ", "verity: ", "export qcow2: "} {
		if !strings.Contains(stderr, stage) {
			t.Errorf("stderr lacks progress for %q:\n%s", stage, stderr)
		}
	}

	// --json: machine-readable, full digests that match the table's, and
	// the same digests again (the build is reproducible); --quiet: no
	// progress.
	code, stdout2, stderr2 := runCLI(t, "build", "--json", "--quiet", "--spec", spec, "--out", filepath.Join(tmp, "out2"))
	if code != 0 || stderr2 != "" {
		t.Fatalf("--json --quiet: exit %d, stderr %q", code, stderr2)
	}
	checkJSON(t, "build", stdout2, "labels")
	var res struct {
		Ref       string `json:"ref"`
		Artifacts []struct {
			Name     string `json:"name"`
			SHA256   string `json:"sha256"`
			Size     int64  `json:"size"`
			Signed   bool   `json:"signed"`
			Verified bool   `json:"verified"`
		} `json:"artifacts"`
		Files []string `json:"files"`
		Lock  struct {
			Packages []json.RawMessage `json:"packages"`
		} `json:"lock"`
	}
	if err := json.Unmarshal([]byte(stdout2), &res); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout2)
	}
	if len(res.Artifacts) != 2 || len(res.Lock.Packages) == 0 || !slices.Contains(res.Files, filepath.Join(tmp, "out2", "key.pub")) {
		t.Fatalf("--json: %+v", res)
	}

	// show lists the verified build's packages; diff of the two builds
	// (reproducible: the same lock) finds no difference.
	key := filepath.Join(out, "key.pub")
	code, stdout, stderr = runCLI(t, "show", out, "--key", key)
	if code != 0 || !strings.Contains(stdout, "PACKAGE") || !strings.Contains(stdout, fmt.Sprintf("packages  %d", len(res.Lock.Packages))) {
		t.Errorf("show: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ = runCLI(t, "show", "--json", "--key", key, out); code != 0 {
		t.Errorf("show --json: exit %d", code)
	} else {
		checkJSON(t, "show", stdout)
	}
	if code, _, stderr = runCLI(t, "show", "--key", filepath.Join(tmp, "out2", "key.pub"), out); code != 1 {
		t.Errorf("show with another build's key: exit %d, want 1\n%s", code, stderr)
	}
	if code, _, stderr = runCLI(t, "show", out); code != 2 {
		t.Errorf("show without a key: exit %d, want 2\n%s", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "diff", "--unsafe-key-from-dir", out, filepath.Join(tmp, "out2"))
	if code != 0 || !strings.Contains(stdout, "no package changes, installed size +0 B") {
		t.Errorf("diff of two builds of one spec: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ = runCLI(t, "diff", "--json", "--unsafe-key-from-dir", out, filepath.Join(tmp, "out2")); code != 0 {
		t.Errorf("diff --json: exit %d", code)
	} else {
		checkJSON(t, "diff", stdout)
	}
	for i, a := range res.Artifacts {
		if !a.Signed || !a.Verified || len(a.SHA256) != 64 || !strings.Contains(lines[1+i], short(a.SHA256)) {
			t.Errorf("--json artifact %+v differs from table row %q", a, lines[1+i])
		}
	}
}

func TestBuildUsage(t *testing.T) {
	tmp := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build"}, "--spec is required"},
		{[]string{"build", "--spec", "x.yaml"}, "--out is required"},
		{[]string{"build", "--spec", "x.yaml", "--out", tmp, "extra"}, "unexpected arguments"},
		{[]string{"build", "--nope"}, "unknown flag: --nope"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "hardvm build --help") {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, stderr)
		}
	}
	code, stdout, _ := runCLI(t, "build", "--help")
	if code != 0 || !strings.Contains(stdout, "Examples:\n  hardvm build --spec") {
		t.Errorf("--help: exit %d:\n%s", code, stdout)
	}
}

func TestBuildFailures(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(tmp, "repo"), vm.X86_64, 1)
	if err != nil {
		t.Fatal(err)
	}
	good := writeSpec(t, filepath.Join(tmp, "good.yaml"), repo)
	bad := filepath.Join(tmp, "bad.yaml")
	os.WriteFile(bad, []byte("variant: base\nplatform: qemuu\narch: x86_64\nsize: 8MiB\n"), 0o644)
	unsat := writeSpec(t, filepath.Join(tmp, "unsat.yaml"), repo, "no-such-package")
	// A repository whose keys: name a key that did not sign it.
	otherKey, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "apk", "rsa256-signed", "keys", "test-rsa256.rsa.pub"))
	untrusted := writeSpec(t, filepath.Join(tmp, "untrusted.yaml"), vm.Repository{URL: repo.URL, Keys: []string{otherKey}})
	key := filepath.Join(tmp, "key.pem")
	os.WriteFile(key, []byte("not a key"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing spec", []string{"--spec", filepath.Join(tmp, "missing.yaml")}, []string{"missing.yaml", "no such file"}},
		{"invalid spec", []string{"--spec", bad}, []string{"bad.yaml: invalid spec, 4 problem(s)", "line 2: platform", "repositories:", "line 4: size", "hardvm spec validate " + bad}},
		{"unsatisfiable", []string{"--spec", unsat}, []string{`no package satisfies "no-such-package"`, "world", "add a repository that provides no-such-package"}},
		{"untrusted key", []string{"--spec", untrusted}, []string{"untrusted signer", hardvmtest.DemoKeyName, "to the repository's keys: in " + untrusted}},
		{"bad key", []string{"--spec", good, "--key", key}, []string{"--key " + key, "PEM private key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(tmp, "out-"+strings.ReplaceAll(tc.name, " ", "-"))
			code, _, stderr := runCLI(t, append([]string{"--quiet", "build", "--out", out}, tc.args...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, stderr)
				}
			}
			if left := halfFiles(t, out); len(left) > 0 {
				t.Errorf("half-written files left: %v", left)
			}
		})
	}
}

// cancelWriter cancels a context when the progress it receives reaches a
// stage, as a user pressing Ctrl-C during that stage would.
type cancelWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	stage  string
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte(w.stage)) {
		w.cancel()
	}
	return w.buf.Write(p)
}

func TestBuildInterrupted(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	spec := writeDemoSpec(t, tmp)
	out := filepath.Join(tmp, "out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelWriter{stage: "export qcow2:", cancel: cancel}
	var stdout bytes.Buffer
	code := run(ctx, &env{stdout: &stdout, stderr: stderr}, []string{"build", "--spec", spec, "--out", out})
	if code != 1 || !strings.Contains(stderr.buf.String(), "interrupted") {
		t.Fatalf("exit %d, want 1 and 'interrupted':\n%s", code, stderr.buf.String())
	}
	if left := halfFiles(t, out); len(left) > 0 {
		t.Errorf("half-written files left: %v", left)
	}
	if _, err := os.Stat(filepath.Join(out, "disk.qcow2")); err == nil {
		t.Error("the interrupted export left disk.qcow2")
	}
	// The next run starts clean and succeeds.
	if code, _, stderr := runCLI(t, "-q", "build", "--spec", spec, "--out", out); code != 0 {
		t.Fatalf("rerun: exit %d:\n%s", code, stderr)
	}
}

// Every command answers --help with its usage and an example.
func TestEveryCommandHelpHasExample(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.Name() == "completion" {
				continue
			}
			walk(sub)
		}
		if c.HasParent() {
			n++
			path := strings.Fields(c.CommandPath())[1:]
			t.Run(strings.Join(path, " "), func(t *testing.T) {
				code, stdout, stderr := runCLI(t, append(path, "--help")...)
				if code != 0 || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, "Examples:\n  hardvm "+path[0]) {
					t.Errorf("exit %d, want 0, a usage and an example:\n%s%s", code, stdout, stderr)
				}
			})
		}
	}
	walk(newRoot(&env{stdout: io.Discard, stderr: io.Discard}))
	if n < 20 {
		t.Errorf("%d commands, want at least 20", n)
	}
}

// Issue 19, bug 2: each artifact row carries its own verification result,
// matched by artifact, not by position (the directory lists disk.qcow2
// before disk.raw; Artifacts lists raw first).
func TestBuildRowsMatchResults(t *testing.T) {
	out := &hardvm.Output{
		Artifacts: []artifact.Artifact{
			{Path: "out/disk.raw", Format: vm.FormatRaw},
			{Path: "out/disk.qcow2", Format: vm.FormatQCOW2},
			{Path: "out/disk.vmdk", Format: vm.FormatVMDK},
		},
		Results: []*provenance.Result{
			{Artifact: "disk.qcow2", Rules: []provenance.Rule{{Name: "digest", Outcome: provenance.Fail, Err: errors.New("qcow2 tampered")}}},
			{Artifact: "disk.raw", Rules: []provenance.Rule{{Name: "signature", Outcome: provenance.Pass}, {Name: "subject", Outcome: provenance.Pass}}},
		},
	}
	got := map[string]artifactRow{}
	for _, r := range rows(out) {
		got[r.Name] = r
	}
	if r := got["disk.raw"]; !r.Verified || !r.Signed || r.Result == nil || r.Result.Artifact != "disk.raw" {
		t.Errorf("disk.raw row: verified %v, signed %v, result %+v", r.Verified, r.Signed, r.Result)
	}
	if r := got["disk.qcow2"]; r.Verified || r.Result == nil || r.Result.Artifact != "disk.qcow2" {
		t.Errorf("disk.qcow2 row: verified %v, result %+v", r.Verified, r.Result)
	}
	if r := got["disk.vmdk"]; r.Verified || r.Result != nil {
		t.Errorf("disk.vmdk (not reached) row: verified %v, result %+v", r.Verified, r.Result)
	}
	var b bytes.Buffer
	printBuildTable(&b, out)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "disk.raw") && strings.Contains(line, "NO") || strings.HasPrefix(line, "disk.qcow2") && !strings.Contains(line, "qcow2 tampered") {
			t.Errorf("table row attached to the wrong result: %q", line)
		}
	}
}

// Issue 19, bug 6: the quickstart's own spec.yaml builds with hardvm build
// from another working directory: its repository and key paths are the
// spec file's, as the quickstart writes it beside the demo repository.
func TestBuildQuickstartSpec(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	if _, err := hardvmtest.WriteDemoRepository(filepath.Join(tmp, "repo"), vm.X86_64, 1); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../examples/quickstart/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(tmp, "spec.yaml")
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	if code, stdout, stderr := runCLI(t, "--quiet", "build", "--spec", spec, "--out", out); code != 0 {
		t.Fatalf("hardvm build of the quickstart's spec from %s: exit %d\n%s%s", must(os.Getwd()), code, stdout, stderr)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
