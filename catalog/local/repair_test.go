package local_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

const (
	stable = "base/aws/x86_64/stable"
	lts    = "base/aws/x86_64/lts"
)

// populate puts builds 0..2 of stable and 0..1 of lts, and deprecates
// stable 0 (so that entries/ holds two files of it).
func populate(t *testing.T, s *local.Store) []catalog.Entry {
	t.Helper()
	ctx := context.Background()
	var es []catalog.Entry
	for _, e := range []catalog.Entry{
		catalogtest.NewEntry(stable, 0, 3), catalogtest.NewEntry(stable, 1, 3), catalogtest.NewEntry(stable, 2, 3),
		catalogtest.NewEntry(lts, 0, 3), catalogtest.NewEntry(lts, 1, 3),
	} {
		if _, err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	next := es[1].Ref
	d, err := s.Deprecate(ctx, es[0].Ref, catalog.Deprecation{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Replacement: &next, Reason: "cve"})
	if err != nil {
		t.Fatal(err)
	}
	es[0] = d
	return es
}

func refs(es []catalog.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Ref.String())
	}
	slices.Sort(out)
	return out
}

// checkAll checks that s holds exactly want (deprecation included) and
// that latest is the newest build of its stream.
func checkAll(t *testing.T, s *local.Store, want []catalog.Entry, latest vm.Ref) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Find(ctx, catalog.Query{IncludeDeprecated: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refs(got), refs(want)) {
		t.Fatalf("catalog holds %v, want %v", refs(got), refs(want))
	}
	for _, e := range got {
		i := slices.IndexFunc(want, func(w catalog.Entry) bool { return w.Ref == e.Ref })
		if (e.Deprecation == nil) != (want[i].Deprecation == nil) {
			t.Errorf("%s: deprecation %+v, want %+v", e.Ref, e.Deprecation, want[i].Deprecation)
		}
	}
	l, err := s.Latest(ctx, catalog.StreamQuery(latest))
	if err != nil || l.Ref != latest {
		t.Fatalf("latest of %s: %v, %v; want %s", stable, l.Ref, err, latest)
	}
}

// The case: `rm CATALOG/index`, then a publish. Before the fix the
// catalog read as empty and the publish wrote an index of one entry, so
// latest rolled back; now the index is rebuilt from the entry files (with
// a warning) and nothing is lost.
func TestStoreIndexMissingIsRebuilt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs bytes.Buffer
	s, err := local.Open(dir, local.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := populate(t, s)
	if err := os.Remove(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	// A reader (another Store) finds the catalog whole.
	checkAll(t, open(t, dir), want, want[2].Ref)
	if _, err := os.Stat(filepath.Join(dir, "index")); err != nil {
		t.Fatalf("the reader did not write the rebuilt index: %v", err)
	}
	// And a writer that had the old index cached keeps every entry too.
	os.Remove(filepath.Join(dir, "index"))
	e := catalogtest.NewEntry(stable, 3, 3)
	if _, err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	checkAll(t, open(t, dir), append(want, e), e.Ref)
	if n, err := s.Len(); err != nil || n != 6 {
		t.Errorf("Len = %d, %v; want 6", n, err)
	}
	if !strings.Contains(logs.String(), "index rebuilt from the entry files") || !strings.Contains(logs.String(), "problem=missing") {
		t.Errorf("the rebuild was not logged:\n%s", logs.String())
	}
	// A new catalog is not a missing index: nothing is written.
	empty := t.TempDir()
	if n, err := open(t, empty).Len(); err != nil || n != 0 {
		t.Fatalf("new catalog: %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(empty, "index")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reading a new catalog wrote an index: %v", err)
	}
}

// An unreadable index is never replaced by a read or a write: both fail
// until Repair rebuilds it.
func TestStoreRepairUnreadableIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	want := populate(t, open(t, dir))
	p := filepath.Join(dir, "index")
	good, _ := os.ReadFile(p)
	bad := bytes.Replace(good, []byte(`"entries":5`), []byte(`"entries":2`), 1)
	os.WriteFile(p, bad, 0o644)
	s := open(t, dir)
	if _, err := s.Latest(ctx, catalog.Query{}); !errors.Is(err, catalog.ErrCorrupt) || !strings.Contains(err.Error(), "Repair") {
		t.Fatalf("Latest on a corrupt index: %v, want ErrCorrupt pointing to Repair", err)
	}
	if _, err := s.Put(ctx, catalogtest.NewEntry(stable, 9, 3)); !errors.Is(err, catalog.ErrCorrupt) {
		t.Fatalf("Put on a corrupt index: %v, want ErrCorrupt", err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, bad) {
		t.Fatal("a write replaced the corrupt index")
	}
	rep, err := s.Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Problem, "unreadable: ") || !rep.Rewritten || rep.Entries != 5 || len(rep.Added) != 5 {
		t.Fatalf("report %+v", rep)
	}
	checkAll(t, s, want, want[2].Ref)
	// The rebuilt index is the one the writes made (same entry files, the
	// deprecated one of stable 0).
	if b, _ := os.ReadFile(p); !bytes.Equal(b, good) {
		t.Errorf("rebuilt index differs from the one the writes made:\n%s\nwant\n%s", b, good)
	}
	// A sound, complete index: nothing to do.
	rep, err = s.Repair(ctx)
	if err != nil || rep.Problem != "" || rep.Rewritten || rep.Entries != 5 || len(rep.Added) != 0 {
		t.Fatalf("second Repair: %+v, %v", rep, err)
	}
}

// An old index put back (or a writer killed between its entry file and
// its index) lacks entries: Repair adds them, keeping the rest as the
// index has them.
func TestStoreRepairIncompleteIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	for n := range 2 {
		if _, err := s.Put(ctx, catalogtest.NewEntry(stable, n, 3)); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.ReadFile(filepath.Join(dir, "index"))
	e := catalogtest.NewEntry(stable, 2, 3)
	if _, err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "index"), old, 0o644)
	rep, err := open(t, dir).Repair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem != "incomplete" || !rep.Rewritten || rep.Entries != 3 || len(rep.Added) != 1 || rep.Added[0] != e.Ref {
		t.Fatalf("report %+v", rep)
	}
	if l, err := open(t, dir).Latest(ctx, catalog.Query{}); err != nil || l.Ref != e.Ref {
		t.Fatalf("latest after Repair: %v, %v", l.Ref, err)
	}
}

// Repair never drops an entry nor guesses past a damaged file: it writes
// nothing and says which file.
func TestStoreRepairRefuses(t *testing.T) {
	ctx := context.Background()
	entryFile := func(t *testing.T, dir string, r vm.Ref) string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(dir, "entries", "sha256-*.json"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(r.Digest.String())) && !bytes.Contains(b, []byte(`"deprecation"`)) {
				return f
			}
		}
		t.Fatalf("no entry file of %s", r)
		return ""
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, es []catalog.Entry) string // returns the file to name
		want   error
	}{
		{"indexed entry file missing", func(t *testing.T, dir string, es []catalog.Entry) string {
			f := entryFile(t, dir, es[2].Ref)
			os.Remove(f)
			return f
		}, catalog.ErrCorrupt},
		{"entry file damaged, index unreadable", func(t *testing.T, dir string, es []catalog.Entry) string {
			f := entryFile(t, dir, es[4].Ref)
			b, _ := os.ReadFile(f)
			os.WriteFile(f, bytes.Replace(b, []byte(`"linux"`), []byte(`"Linux"`), 1), 0o644)
			os.WriteFile(filepath.Join(dir, "index"), []byte("damaged\n"), 0o644)
			return f
		}, catalog.ErrDigest},
		{"newer index version", func(t *testing.T, dir string, es []catalog.Entry) string {
			p := filepath.Join(dir, "index")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"version":1`), []byte(`"version":2`), 1), 0o644)
			return p
		}, catalog.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			es := populate(t, open(t, dir))
			name := tc.damage(t, dir, es)
			before, _ := os.ReadFile(filepath.Join(dir, "index"))
			rep, err := open(t, dir).Repair(ctx)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), name) {
				t.Fatalf("Repair = %+v, %v; want %v naming %s", rep, err, tc.want, name)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, "index")); !bytes.Equal(after, before) || rep.Rewritten {
				t.Error("Repair wrote an index though it refused")
			}
		})
	}
}

// The temporary files of writers killed mid-write (atomicfile's, of the
// index and of entry files) are removed by Repair and by the next write;
// other files are left alone.
func TestStoreReclaimsTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	for _, via := range []string{"Repair", "Put"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			populate(t, open(t, dir))
			files, _ := filepath.Glob(filepath.Join(dir, "entries", "sha256-*.json"))
			dead := []string{
				filepath.Join(dir, ".index.tmp-123456"),
				filepath.Join(dir, "entries", "."+filepath.Base(files[0])+".tmp-987654"),
			}
			keep := []string{filepath.Join(dir, ".index.keep"), filepath.Join(dir, "entries", ".notes.tmp-1"), filepath.Join(dir, "entries", "README")}
			for _, p := range append(dead, keep...) {
				if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := open(t, dir)
			if via == "Repair" {
				rep, err := s.Repair(ctx)
				if err != nil || rep.Rewritten || !slices.Equal(rep.Removed, dead) {
					t.Fatalf("Repair = %+v, %v; want %v removed", rep, err, dead)
				}
			} else if _, err := s.Put(ctx, catalogtest.NewEntry(stable, 7, 3)); err != nil {
				t.Fatal(err)
			}
			for _, p := range dead {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left: %v", p, err)
				}
			}
			for _, p := range keep {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("%s removed: %v", p, err)
				}
			}
		})
	}
}

// A reader that may not write the catalog (here: a read-only bind mount,
// in a mount namespace of its own) still reads every entry of a catalog
// whose index is missing, and writes nothing.
func TestStoreIndexMissingReadOnly(t *testing.T) {
	unshare := testtool.Require(t, "unshare")
	dir := t.TempDir()
	want := populate(t, open(t, dir))
	os.Remove(filepath.Join(dir, "index"))
	cmd := exec.Command(unshare, "-m", "sh", "-c", `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && exec "$2" -test.run='^$'`, "sh", dir, os.Args[0])
	cmd.Env = append(os.Environ(), readerEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reader on a read-only mount: %v\n%s", err, out)
	}
	if got, wantOut := strings.TrimSpace(string(out)), fmt.Sprint(len(want), want[2].Ref.Version); got != wantOut {
		t.Fatalf("reader on a read-only mount says %q, want %q", got, wantOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "index")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only reader wrote an index: %v", err)
	}
}
