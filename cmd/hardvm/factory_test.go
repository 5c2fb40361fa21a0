package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/vm"
)

// TestCLIFactory: catalog stale, factory --once (embedded NATS, one
// in-process worker, real builds of the demo repository into a local
// catalog), factory status, then a repository release that upgrades
// packages: every stream is stale again, with its delta and the CVE the
// security database names.
func TestCLIFactory(t *testing.T) {
	dir := t.TempDir()
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(dir, "repo"), vm.X86_64, 1)
	if err != nil {
		t.Fatal(err)
	}
	var specs []string
	for _, v := range []string{"nginx"} {
		p := filepath.Join(dir, v+".yaml")
		y := fmt.Sprintf("variant: %s\nplatform: qemu\narch: x86_64\nrepositories:\n  - url: %s\n    keys: [%s]\n    family: wolfi\nformats: [raw]\nsource_date_epoch: 1\nsize: 256MiB\n",
			v, repo.URL, repo.Keys[0])
		if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		specs = append(specs, p)
	}
	secdb := filepath.Join(dir, "security.json")
	if err := os.WriteFile(secdb, []byte(`{"packages":[{"pkg":{"name":"busybox","secfixes":{"1.37.0-r2":["CVE-2026-0002"]}}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, out := filepath.Join(dir, "catalog"), filepath.Join(dir, "out")

	code, stdout, stderr := runCLI(t, append([]string{"catalog", "stale", "--catalog", cat}, specs...)...)
	if code != 0 || !strings.Contains(stdout, "1 of 1 streams stale") || !strings.Contains(stdout, "nginx/qemu/x86_64/stable") {
		t.Fatalf("catalog stale: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, append([]string{"factory", "--catalog", cat, "--out", out, "--once", "--not-bootable-unsafe", "--secdb", secdb}, specs...)...)
	if code != 0 || !strings.Contains(stdout, "1 stale streams, 1 new jobs") || strings.Count(stdout, ": published ") != 1 {
		t.Fatalf("factory --once: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, append([]string{"catalog", "stale", "--catalog", cat}, specs...)...)
	if code != 0 || !strings.Contains(stdout, "0 of 1 streams stale") {
		t.Fatalf("catalog stale after building: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "factory", "status", "--nats-dir", filepath.Join(out, "nats"), "--json")
	var st []factory.StreamStatus
	if code != 0 || json.Unmarshal([]byte(stdout), &st) != nil || len(st) != 1 || st[0].Done != 1 || st[0].Queued != 0 {
		t.Fatalf("factory status: exit %d\n%s\n%s", code, stdout, stderr)
	}

	if _, err := hardvmtest.WriteDemoRepository(filepath.Join(dir, "repo"), vm.X86_64, 2); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, append([]string{"catalog", "stale", "--catalog", cat, "--secdb", secdb, "--json"}, specs...)...)
	var stale []factory.Stale
	if code != 0 || json.Unmarshal([]byte(stdout), &stale) != nil || len(stale) != 1 {
		t.Fatalf("catalog stale after the release: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, s := range stale {
		if s.Latest == nil || len(s.Delta.Upgraded) == 0 || len(s.Delta.Fixes) != 1 || s.Delta.Fixes[0] != "CVE-2026-0002" {
			t.Errorf("%s: latest %v, delta %s", s.Stream, s.Latest, s.Delta.Summary())
		}
	}

	for _, args := range [][]string{
		{"factory", "--catalog", cat},
		{"factory", "--catalog", cat, "--out", out},
		{"worker", "--catalog", cat, "--out", out},
		{"catalog", "stale", "--catalog", cat},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
}

// A NATS URL's credentials (user and password, or a token as the user)
// never reach an error: hardvm worker --nats with a server that is not
// there fails naming the server, not the secret.
func TestNATSURLCredentialsRedacted(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nats://alice:s3cret@127.0.0.1:1", "nats://redacted@127.0.0.1:1"},
		{"nats://t0ken@127.0.0.1:1,nats://127.0.0.2:4222", "nats://redacted@127.0.0.1:1,nats://127.0.0.2:4222"},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://bad%zz:s3cret@host", "(a URL with credentials)"},
	} {
		if got := redactNATS(c.in); got != c.want {
			t.Errorf("redactNATS(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	code, stdout, stderr := runCLI(t, "factory", "status", "--nats", "nats://alice:s3cret@127.0.0.1:1")
	if code == 0 || strings.Contains(stdout+stderr, "s3cret") || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Fatalf("factory status with an unreachable server: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}
