package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// catalog repair: a sound index is reported and left; a corrupt index makes
// list fail until repair rebuilds it from the entry files, with every entry
// (latest never rolls back); an OCI catalog and other targets are usage
// errors.
func TestCLICatalogRepair(t *testing.T) {
	cat, refs := fixtureCatalog(t)
	code, stdout, stderr := runCLI(t, "catalog", "repair", "--catalog", cat)
	if code != 0 || !strings.Contains(stdout, "index sound: 3 entries") {
		t.Fatalf("sound catalog: exit %d\n%s\n%s", code, stdout, stderr)
	}
	index := filepath.Join(cat, "index")
	before, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(index, []byte("not an index\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr = runCLI(t, "catalog", "list", "--catalog", cat); code == 0 {
		t.Fatalf("list of a catalog with a corrupt index: exit 0\n%s", stdout)
	} else if !strings.Contains(stderr, "repair") {
		t.Errorf("the error does not point to repair: %s", stderr)
	}
	code, stdout, stderr = runCLI(t, "catalog", "repair", "--catalog", cat, "--json")
	if code != 0 {
		t.Fatalf("repair: exit %d\n%s\n%s", code, stdout, stderr)
	}
	checkJSON(t, "catalog repair --json", stdout)
	var rep repairOutput
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Problem, "unreadable") || rep.Entries != 3 || !rep.Rewritten || len(rep.Added) != 3 {
		t.Errorf("report %+v: want an unreadable index rebuilt with 3 entries", rep)
	}
	after, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("the rebuilt index differs from the one the writes made:\n%s\nwant\n%s", after, before)
	}
	code, stdout, stderr = runCLI(t, "catalog", "latest", "--catalog", cat, "--variant", "base")
	if code != 0 || !strings.Contains(stdout, refs[2].Version.String()) {
		t.Errorf("latest after repair: exit %d, want %s\n%s\n%s", code, refs[2].Version, stdout, stderr)
	}
	for _, args := range [][]string{
		{"catalog", "repair"},
		{"catalog", "repair", "--catalog", "oci://127.0.0.1:1/x"},
		{"catalog", "repair", "--catalog", cat, "--target", "aws"},
		{"catalog", "repair", "--catalog", cat, "extra"},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, stderr)
		}
	}
}
