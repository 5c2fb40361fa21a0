package reclaim

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A dead process's lock is free: closing the only descriptor of a locked
// file is what the kernel does for a process killed with SIGKILL. A live
// one's lock is held by an open descriptor (flock locks belong to open
// file descriptions, so a second open in this process cannot take it).

func TestFilesTakesOnlyTheDeads(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, hold bool) *os.File {
		t.Helper()
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := Lock(f, p); err != nil || !ok {
			t.Fatalf("lock: %v %v", ok, err)
		}
		if !hold {
			f.Close()
			return nil
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	mk("dead.tmp", false)
	mk("live.tmp", true)
	mk("dead.other", false)                                          // not matched
	os.WriteFile(filepath.Join(dir, "never-locked.tmp"), nil, 0o644) // unlocked: dead to reclaim
	os.Symlink("live.tmp", filepath.Join(dir, "link.tmp"))
	removed, err := Files(dir, func(n string) bool { return strings.HasSuffix(n, ".tmp") })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"dead.tmp", "never-locked.tmp"}) {
		t.Errorf("removed %v", removed)
	}
	for _, n := range []string{"live.tmp", "dead.other", "link.tmp"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if r, err := Files(filepath.Join(dir, "missing"), func(string) bool { return true }); err != nil || len(r) != 0 {
		t.Errorf("missing dir: %v %v", r, err)
	}
}

// A file removed between its creation and its lock (by a reclaimer that
// took the free lock) is reported, so that its maker starts again.
func TestLockNoticesRemoval(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.Remove(p)
	if ok, err := Lock(f, p); err != nil || ok {
		t.Fatalf("Lock of a removed name: %v %v, want false", ok, err)
	}
}

func TestTempDirs(t *testing.T) {
	parent := t.TempDir()
	live, err := TempDir(parent, "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	dead, err := TempDir(parent, "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dead.Path(), "staged"), []byte("x"), 0o644)
	dead.lock.Close()                                       // its process died
	os.Mkdir(filepath.Join(parent, "rootfs-legacy"), 0o755) // no lock file: nothing proves it dead
	removed, err := Dirs(parent, "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{filepath.Base(dead.Path())}) {
		t.Fatalf("removed %v, want the dead one", removed)
	}
	ents, _ := os.ReadDir(parent)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(live.Path()), filepath.Base(live.Path()) + ".lock", "rootfs-legacy"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("left %v, want %v", names, want)
	}
	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	ents, _ = os.ReadDir(parent)
	if len(ents) != 1 {
		t.Errorf("after Remove: %d entries", len(ents))
	}
	if _, err := TempDir(parent, "a/b"); err == nil {
		t.Error("prefix with a separator accepted")
	}
}
