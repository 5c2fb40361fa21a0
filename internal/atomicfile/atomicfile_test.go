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

// TestReclaimDeadWriters: the temporary of a writer killed before Commit
// (its descriptor closed by the kernel, the file left) is removed by the
// next run's Reclaim; a live writer's, and files of other programs, stay,
// and the live writer commits. On the main of issue 17 a killed build left
// .disk.raw.tmp-* files of the disk's size forever.
func TestReclaimDeadWriters(t *testing.T) {
	dir := t.TempDir()
	dead, err := Create(filepath.Join(dir, "disk.raw"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	dead.Write([]byte("half a disk"))
	dead.File.Close() // killed: the kernel closes, nothing removes
	live, err := Create(filepath.Join(dir, "disk.qcow2"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	os.WriteFile(filepath.Join(dir, ".disk.vhd.tmp-123"), nil, 0o644) // another program's temporary
	removed, err := Reclaim(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != filepath.Base(dead.File.Name()) {
		t.Fatalf("removed %v, want %s", removed, filepath.Base(dead.File.Name()))
	}
	live.Write([]byte("whole"))
	if err := live.Commit(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != "[.disk.vhd.tmp-123 disk.qcow2]" {
		t.Errorf("left %v", names)
	}
}

// ReclaimFor takes back only the dead temporaries of its own destination:
// a dead writer of another file in the directory and live writers of the
// same file are left alone.
func TestReclaimFor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.qcow2")
	kill := func(p string) string {
		f, err := Create(p, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.File.Close() // killed: the kernel closes, nothing removes
		return filepath.Base(f.File.Name())
	}
	dead := kill(path)
	otherDead := kill(filepath.Join(dir, "disk.qcow2.sig")) // shares the prefix
	live, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	removed, err := ReclaimFor(path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(removed) != "["+dead+"]" {
		t.Fatalf("removed %v, want [%s]", removed, dead)
	}
	for _, keep := range []string{otherDead, filepath.Base(live.File.Name())} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
}
