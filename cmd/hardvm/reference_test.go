package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spf13/cobra/doc"
)

var updateReference = flag.Bool("update-reference", false, "rewrite docs/cli from the commands")

// referenceDir is the generated CLI reference in the repository.
const referenceDir = "../../docs/cli"

// TestCLIReference checks that docs/cli is the reference the commands
// generate (go test ./cmd/hardvm -run TestCLIReference -update-reference
// rewrites it).
func TestCLIReference(t *testing.T) {
	gen := t.TempDir()
	root := newRoot(&env{stdout: io.Discard, stderr: io.Discard})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	if err := doc.GenMarkdownTree(root, gen); err != nil {
		t.Fatal(err)
	}
	want := files(t, gen)
	if *updateReference {
		old, _ := filepath.Glob(filepath.Join(referenceDir, "hardvm*.md"))
		for _, p := range old {
			os.Remove(p)
		}
		os.MkdirAll(referenceDir, 0o755)
		for name, b := range want {
			if err := os.WriteFile(filepath.Join(referenceDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	have := files(t, referenceDir)
	for name, b := range want {
		if !bytes.Equal(have[name], b) {
			t.Errorf("docs/cli/%s is not what the commands generate: run go test ./cmd/hardvm -run TestCLIReference -update-reference", name)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/cli/%s names no command: run go test ./cmd/hardvm -run TestCLIReference -update-reference", name)
		}
	}
	if len(want) < 20 || !slices.ContainsFunc(keys(want), func(n string) bool { return n == "hardvm_completion_bash.md" }) {
		t.Errorf("the reference has %d pages, want every command and completion", len(want))
	}
}

func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ps, err := filepath.Glob(filepath.Join(dir, "hardvm*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range ps {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
