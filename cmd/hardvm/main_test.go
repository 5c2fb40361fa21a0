package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLICtx(t, context.Background(), args...)
}

func runCLICtx(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func TestCLIExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{[]string{}, 2, "Commands:"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"help"}, 0, "variants"},
		{[]string{"spec", "validate", "../../vm/testdata/valid/base-aws.yaml"}, 0, "base/aws/x86_64/stable"},
		{[]string{"spec", "validate", "../../vm/testdata/invalid/mixed.yaml"}, 1, "never mix"},
		{[]string{"spec", "validate"}, 2, "no spec file"},
		{[]string{"spec", "validate", "--bogus", "x"}, 2, "unknown flag: --bogus"},
		{[]string{"variants"}, 0, "squid"},
		{[]string{"platforms"}, 0, "azure-vhd-fixed"},
		{[]string{"plan", "--fleet", "testdata/fleet.json"}, 2, "required"},
		{[]string{"plan", "--fleet", "testdata/fleet.json", "--target", "base/aws/x86_64/stable:20261123.000000.0"}, 0, "replace 3 nodes"},
		{[]string{"plan", "--fleet", "testdata/fleet.json", "--target", "nginx/aws/x86_64/stable:20261123.000000.0"}, 1, "another variant"},
		// Issue 19, bug 4: a 2025 image over 2026 nodes is refused unless forced.
		{[]string{"plan", "--fleet", "testdata/fleet.json", "--target", "base/aws/x86_64/stable:20251123.000000.0"}, 1, "node i-0a runs 20261120.000000.0, newer than target"},
		{[]string{"plan", "--fleet", "testdata/fleet.json", "--target", "base/aws/x86_64/stable:20251123.000000.0", "--allow-downgrade"}, 0, "replace 4 nodes"},
		{[]string{"plan", "--fleet", "missing.json", "--target", "base/aws/x86_64/stable:20261123.000000.0"}, 1, "missing.json"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if !strings.Contains(out+errs, tc.want) {
				t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", tc.want, out, errs)
			}
		})
	}
}

func TestCLIJSON(t *testing.T) {
	code, out, _ := runCLI(t, "variants", "--json")
	var vs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &vs) != nil || len(vs) != 9 {
		t.Fatalf("variants --json: code %d, %d variants: %s", code, len(vs), out)
	}
	code, out, _ = runCLI(t, "plan", "--json", "--fleet", "testdata/fleet.json", "--target", "base/aws/x86_64/stable:20261123.000000.0")
	var p struct {
		Waves   []any    `json:"waves"`
		Skipped []string `json:"skipped"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || len(p.Skipped) != 1 || p.Skipped[0] != "i-0d" {
		t.Fatalf("plan --json: code %d: %s", code, out)
	}
}

func TestCLIPlanFromCatalog(t *testing.T) {
	dir := t.TempDir()
	store, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := catalogtest.NewEntry("base/aws/x86_64/stable", 5, 3)
	if _, err := store.Put(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "plan", "--fleet", "testdata/fleet.json", "--catalog", dir)
	if code != 0 || !strings.Contains(out, e.Ref.Version.String()) {
		t.Fatalf("plan --catalog: exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runCLI(t, "plan", "--fleet", "testdata/fleet.json", "--catalog", t.TempDir())
	if code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("plan against an empty catalog: exit %d: %s", code, errs)
	}
}
