package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// Issue 19, bug 5: the rough edges of the command line.
func TestCLIConventions(t *testing.T) {
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.qcow2")
	raw := filepath.Join(dir, "disk.raw")
	for _, p := range []string{disk, raw} {
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args     []string
		code     int
		want     string // in stdout or stderr
		unwanted string
	}{
		// Flags after the arguments, as the usage lines show them.
		{[]string{"run", disk, "--dry-run"}, 0, "format=qcow2,file=" + disk, ""},
		{[]string{"convert", raw, filepath.Join(dir, "out.qcow2"), "--to", "qcow2", "--json"}, 0, `"format": "qcow2"`, ""},
		{[]string{"spec", "validate", "../../vm/testdata/valid/base-aws.yaml", "--json"}, 0, `"valid":true`, ""},
		{[]string{"variants", "-q", "--json"}, 0, `"name": "base"`, ""},
		// Help names flags' arguments, not words of their text, and files
		// build writes.
		{[]string{"publish", "--help"}, 0, "--target-config string", "targets:` list"},
		{[]string{"run", "--help"}, 0, "out/disk.qcow2", "out/nginx"},
		// A typo gets a suggestion, not the whole help.
		{[]string{"bild"}, 2, "Did you mean this?\n\tbuild", "Available Commands"},
		{[]string{"catalog", "lst"}, 2, "Did you mean this?\n\tlist", ""},
		{[]string{"spec", "valdate"}, 2, "Did you mean this?\n\tvalidate", ""},
		// Shell completion: scripts, and flags completed by the commands.
		{[]string{"completion", "bash"}, 0, "__start_hardvm", ""},
		{[]string{"__complete", "convert", "--t"}, 0, "--to", ""},
		{[]string{"__complete", "catalog", "l"}, 0, "latest", ""},
		// --version from the build info.
		{[]string{"--version"}, 0, "hardvm ", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) || tc.unwanted != "" && strings.Contains(out+errs, tc.unwanted) {
				t.Errorf("exit %d (want %d), want %q and not %q in:\n%s%s", code, tc.code, tc.want, tc.unwanted, out, errs)
			}
		})
	}
}

// Ctrl-C exits 130 (128 + SIGINT), SIGTERM 143, as shells report them.
func TestCLIInterruptExitCode(t *testing.T) {
	for _, tc := range []struct {
		sig  os.Signal
		code int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(interrupted{tc.sig})
		spec := writeDemoSpec(t, t.TempDir())
		code, _, errs := runCLICtx(t, ctx, "build", "--spec", spec, "--out", filepath.Join(t.TempDir(), "out"))
		if code != tc.code || !strings.Contains(errs, "interrupted") {
			t.Errorf("build interrupted by %v: exit %d, want %d\n%s", tc.sig, code, tc.code, errs)
		}
	}
}

func TestVersionOf(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/hardvm/hardvm", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "4d07576abc"}, {Key: "vcs.time", Value: "2026-12-05T02:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionOf(bi), "v0.3.0 (revision 4d07576abc, 2026-12-05T02:00:00Z, modified) go1.26.8"; got != want {
		t.Errorf("versionOf = %q, want %q", got, want)
	}
	if got := versionOf(&debug.BuildInfo{GoVersion: "go1.26.8"}); got != "(devel) go1.26.8" {
		t.Errorf("versionOf without a version = %q", got)
	}
}

// The bash completion script parses in bash (bash -n).
func TestCompletionScriptParses(t *testing.T) {
	code, out, errs := runCLI(t, "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: exit %d: %s", code, errs)
	}
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = strings.NewReader(out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("bash -n of the completion script: %v\n%s", err, b)
	}
}
