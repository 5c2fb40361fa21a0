package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	if err := WriteBytes(p, 0o640, []byte("one")); err != nil {
		t.Fatal(err)
	}
	fail := errors.New("interrupted")
	err := WriteFile(p, 0o640, func(w io.Writer) error {
		w.Write([]byte("half a new"))
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("want the writer's error, got %v", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "one" {
		t.Fatalf("failed write changed the file: %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary file left behind: %v", ents)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
}

func Example() {
	dir, _ := os.MkdirTemp("", "atomicfile")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "disk.raw")
	f, err := Create(path, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Abort() // removes the temporary file unless committed
	fmt.Fprint(f, "data")
	if err := f.Commit(); err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(path)
	fmt.Println(string(b))
	// Output: data
}
