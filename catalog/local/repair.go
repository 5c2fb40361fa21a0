package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// The entry files are the catalog's truth: every write puts the entry file
// in place before the index that names it, and nothing removes entry
// files. The index is derived from them, so a missing or unreadable index
// can be rebuilt from them without losing a committed entry.

// RepairReport says what [Store.Repair] found and did.
type RepairReport struct {
	// Problem is what was wrong with the index: "" if it was sound and
	// named every entry on disk; else "missing", "unreadable: <why>", or
	// "incomplete" (sound, but entry files it does not name were found:
	// a writer killed between the two steps of a write, or an old index
	// put back).
	Problem string
	// Entries is the number of entries the index holds now.
	Entries int
	// Added lists the entries the index holds now and did not before
	// (every entry if it was missing or unreadable), by stream and version.
	Added []vm.Ref
	// Rewritten reports whether a new index was written.
	Rewritten bool
	// Removed lists the temporary files of killed writers removed.
	Removed []string
}

// entryName matches the name of an entry file.
var entryName = regexp.MustCompile(`^sha256-([0-9a-f]{64})\.json$`)

// Repair checks the index against the entry files under entries/ and, if
// it is missing, unreadable or lacks some of them, writes a new index
// holding every entry: the one the old index names where it is sound, and
// for each other stream and version the entry file found (a deprecated one
// before one that is not, the later deprecation, then the file written
// last). It also removes the temporary files writers killed mid-write left
// behind. It holds the catalog's lock while it works.
//
// Repair never drops an entry: if the old index is sound but names an
// entry whose file is missing or damaged, or an entry file cannot be read,
// it writes nothing and returns an error (catalog.ErrCorrupt) naming the
// file; put the file back (or move the damaged one away) and run it again.
// An index written by a newer hardvm (a later index version) is left alone
// and reported as an error too.
//
// Reads and writes rebuild a missing index on their own (logging a
// warning); an unreadable one makes them fail with a
// [*catalog.CorruptError] until Repair has run. This is what `hardvm
// catalog repair` runs.
func (s *Store) Repair(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	err := s.locked(ctx, func() error {
		var err error
		rep, err = s.repair(ctx)
		return err
	})
	return rep, err
}

// repair is Repair; callers hold the lock and s.mu.
func (s *Store) repair(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	var err error
	if rep.Removed, err = s.reclaim(); err != nil {
		return rep, err
	}
	old, err := s.readIndexFile()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rep.Problem = "missing"
		old = nil
	case errors.Is(err, errNewerIndex):
		return rep, err
	case errors.Is(err, catalog.ErrCorrupt):
		rep.Problem = "unreadable: " + err.Error()
		old = nil
	case err != nil:
		return rep, err
	}
	found, err := s.scanEntries(ctx)
	if err != nil {
		return rep, err
	}
	idx := catalog.NewIndex()
	if old != nil {
		// Keep every entry of a sound index as it is, checking that its
		// file is there and whole.
		var lost error
		old.All(func(it catalog.Item) bool {
			if _, err := s.load(it); err != nil {
				lost = fmt.Errorf("local: repair: the index names %s, whose entry file cannot be read (nothing was written): %w", it.Ref, err)
				return false
			}
			idx.Put(it)
			return ctx.Err() == nil
		})
		if lost != nil {
			return rep, lost
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	for _, f := range found {
		if _, ok := idx.Get(f.it.Ref); !ok {
			idx.Put(f.it)
			rep.Added = append(rep.Added, f.it.Ref)
		}
	}
	if old != nil && len(rep.Added) > 0 {
		rep.Problem = "incomplete"
	}
	rep.Entries = idx.Len()
	if rep.Problem == "" {
		return rep, nil
	}
	if rep.Problem == "missing" && idx.Len() == 0 {
		// A new catalog: there is nothing to index yet.
		rep.Problem = ""
		return rep, nil
	}
	if err := s.writeIndexFile(idx); err != nil {
		return rep, err
	}
	rep.Rewritten = true
	s.log.Warn("catalog: index rebuilt from the entry files", "dir", s.dir, "problem", rep.Problem, "entries", rep.Entries, "added", len(rep.Added))
	return rep, nil
}

// locked runs f holding the directory lock and s.mu (no refresh).
func (s *Store) locked(ctx context.Context, f func() error) error {
	unlock, err := lockFile(ctx, filepath.Join(s.dir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return f()
}

// readIndexFile reads the index on disk (fs.ErrNotExist if there is none).
func (s *Store) readIndexFile() (*catalog.Index, error) {
	f, err := os.Open(s.indexPath())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("local: %w", err)
	}
	defer f.Close()
	return readIndex(f, s.indexPath())
}

// writeIndexFile replaces the index with idx and makes it the cached one.
// Callers hold the lock and s.mu.
func (s *Store) writeIndexFile(idx *catalog.Index) error {
	if err := atomicfile.WriteFile(s.indexPath(), 0o644, func(w io.Writer) error { return writeIndex(w, idx) }); err != nil {
		return fmt.Errorf("local: write index: %w", err)
	}
	s.invalidate()
	return s.refresh()
}

// scanned is an entry file found under entries/.
type scanned struct {
	it  catalog.Item
	dep time.Time // the deprecation's time; zero: not deprecated
	mod time.Time
}

// scanEntries reads every entry file and returns, for each stream and
// version, the one to index, in no particular order. Names that are not
// entry files (temporary files among them) are ignored. A damaged entry
// file is an error: it may be the newest entry of its stream.
func (s *Store) scanEntries(ctx context.Context) ([]scanned, error) {
	dir := filepath.Join(s.dir, "entries")
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	best := map[string]scanned{}
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := entryName.FindStringSubmatch(de.Name())
		if m == nil || !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		want := digest.NewDigestFromEncoded(digest.SHA256, m[1])
		e, mod, err := readEntryFile(p, want)
		if err != nil {
			return nil, err
		}
		c := scanned{it: catalog.Item{Summary: e.Summary(), Key: want.String()}, mod: mod}
		if e.Deprecation != nil {
			c.dep = e.Deprecation.Time
		}
		k := e.Ref.Stream() + ":" + e.Ref.Version.String()
		if b, ok := best[k]; !ok || better(c, b) {
			best[k] = c
		}
	}
	out := make([]scanned, 0, len(best))
	for _, c := range best {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b scanned) int { return strings.Compare(a.it.Key, b.it.Key) })
	return out, nil
}

// better reports whether a should be indexed rather than b (two files of
// the same stream and version): a deprecation is written after the entry
// it deprecates, a later one after an earlier one, and otherwise the file
// written last is the last one a writer meant.
func better(a, b scanned) bool {
	if a.dep.IsZero() != b.dep.IsZero() {
		return !a.dep.IsZero()
	}
	if !a.dep.Equal(b.dep) {
		return a.dep.After(b.dep)
	}
	if !a.mod.Equal(b.mod) {
		return a.mod.After(b.mod)
	}
	return a.it.Key > b.it.Key
}

// readEntryFile reads and checks the entry file p, whose content must have
// digest want.
func readEntryFile(p string, want digest.Digest) (catalog.Entry, time.Time, error) {
	f, err := os.Open(p)
	if err != nil {
		return catalog.Entry{}, time.Time{}, fmt.Errorf("local: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return catalog.Entry{}, time.Time{}, fmt.Errorf("local: %w", err)
	}
	corrupt := func(err error) (catalog.Entry, time.Time, error) {
		return catalog.Entry{}, time.Time{}, &catalog.CorruptError{Path: p, Err: err}
	}
	if fi.Size() > maxEntry {
		return corrupt(fmt.Errorf("%d bytes (limit %d)", fi.Size(), maxEntry))
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(f, maxEntry+1)); err != nil {
		return catalog.Entry{}, time.Time{}, fmt.Errorf("local: %w", err)
	}
	if buf.Len() > maxEntry {
		return corrupt(fmt.Errorf("more than %d bytes", maxEntry))
	}
	if got := digest.FromBytes(buf.Bytes()); got != want {
		return corrupt(&catalog.DigestError{What: "entry file " + filepath.Base(p), Want: want, Got: got})
	}
	var e catalog.Entry
	if err := json.Unmarshal(buf.Bytes(), &e); err != nil {
		return corrupt(err)
	}
	if err := e.Validate(); err != nil {
		return corrupt(err)
	}
	return e, fi.ModTime(), nil
}

// hasEntries reports whether entries/ holds any entry file.
func (s *Store) hasEntries() (bool, error) {
	d, err := os.Open(filepath.Join(s.dir, "entries"))
	if err != nil {
		return false, fmt.Errorf("local: %w", err)
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(256)
		for _, n := range names {
			if entryName.MatchString(n) {
				return true, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("local: %w", err)
		}
	}
}

// reclaim removes the temporary files of writers killed mid-write: the
// index's and the entry files'. Writers create them only while they hold
// the lock, so callers, who hold it, see only dead writers' files.
func (s *Store) reclaim() ([]string, error) {
	var removed []string
	for _, dir := range []string{s.dir, filepath.Join(s.dir, "entries")} {
		des, err := os.ReadDir(dir)
		if err != nil {
			return removed, fmt.Errorf("local: %w", err)
		}
		for _, de := range des {
			n := de.Name()
			if !de.Type().IsRegular() || !isTemp(n, dir == s.dir) {
				continue
			}
			p := filepath.Join(dir, n)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("local: %w", err)
			}
			removed = append(removed, p)
		}
	}
	if len(removed) > 0 {
		s.log.Info("catalog: removed what killed writers left", "dir", s.dir, "files", len(removed))
	}
	return removed, nil
}

// isTemp reports whether n is the name of an atomicfile temporary file of
// the index (top is true: in the catalog directory) or of an entry file.
func isTemp(n string, top bool) bool {
	if top {
		return strings.HasPrefix(n, ".index.tmp-")
	}
	base, _, ok := strings.Cut(strings.TrimPrefix(n, "."), ".tmp-")
	return strings.HasPrefix(n, ".") && ok && entryName.MatchString(base)
}
