package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// Store is a catalog in a directory. It is safe for concurrent use by
// goroutines and by processes sharing the directory.
type Store struct {
	dir string
	log *slog.Logger

	mu  sync.Mutex
	idx *catalog.Index
	// f is the index file idx was read from (nil: none existed). It is
	// kept open so that its inode cannot be reused by a newer index: a
	// different (dev, inode) at the index path means the catalog changed.
	f        *os.File
	dev, ino uint64
	// reclaimed is set once the temporary files of killed writers have
	// been looked for (by the first write).
	reclaimed bool
}

// Option configures a [Store] or a [Registrar].
type Option func(*options) error

type options struct {
	log      *slog.Logger
	progress progress.Reporter
}

// WithProgress reports the copies a [Registrar] makes, in bytes of the
// artifact, as stage "qemu upload <file name>". A Store ignores it.
func WithProgress(r progress.Reporter) Option {
	return func(o *options) error { o.progress = r; return nil }
}

// WithLogger logs writes to l (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("local: nil logger")
		}
		o.log = l
		return nil
	}
}

func makeOptions(opts []Option) (options, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Open returns the catalog in dir, creating the directory if needed. An
// existing index is checked when first read.
func Open(dir string, opts ...Option) (*Store, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "entries"), 0o755); err != nil {
		return nil, fmt.Errorf("local: open catalog: %w", err)
	}
	return &Store{dir: dir, log: o.log, idx: catalog.NewIndex()}, nil
}

// Dir returns the catalog directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the index file held open. The Store must not be used
// after.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}

func (s *Store) indexPath() string { return filepath.Join(s.dir, "index") }

func (s *Store) entryPath(d digest.Digest) string {
	return filepath.Join(s.dir, "entries", string(d.Algorithm())+"-"+d.Encoded()+".json")
}

// errIndexMissing reports an index that is not there while entry files
// are: it must be rebuilt, under the lock.
var errIndexMissing = errors.New("local: the index is missing")

// refresh makes s.idx the index on disk. Callers hold s.mu. With no index,
// the catalog is empty if there are no entry files, and refresh returns
// errIndexMissing if there are (see refreshLocked).
func (s *Store) refresh() error {
	fi, err := os.Stat(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		has, err := s.hasEntries()
		if err != nil {
			return err
		}
		if has {
			return errIndexMissing
		}
		s.invalidate() // a new catalog (or one whose index went away)
		return nil
	}
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && s.f != nil && uint64(st.Dev) == s.dev && st.Ino == s.ino {
		return nil
	}
	f, err := os.Open(s.indexPath())
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	fi, err = f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("local: %w", err)
	}
	idx, err := readIndex(f, s.indexPath())
	if err != nil {
		f.Close()
		return fmt.Errorf("local: index unreadable (Store.Repair, `hardvm catalog repair`, rebuilds it from the entry files): %w", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.dev, s.ino, s.idx = f, uint64(st.Dev), st.Ino, idx
	return nil
}

// refreshLocked is refresh for callers holding the lock and s.mu: a
// missing index is rebuilt from the entry files (and the rebuild logged).
func (s *Store) refreshLocked(ctx context.Context) error {
	err := s.refresh()
	if !errors.Is(err, errIndexMissing) {
		return err
	}
	if _, err := s.repair(ctx); err != nil {
		return err
	}
	// Another writer may have put an index in place meanwhile: read
	// whichever is there now.
	return s.refresh()
}

// read runs f (which reads s.idx) holding s.mu on a fresh index; if the
// index must be rebuilt first, it takes the lock to do so.
func (s *Store) read(ctx context.Context, f func()) error {
	s.mu.Lock()
	err := s.refresh()
	if err == nil {
		f()
	}
	s.mu.Unlock()
	if !errors.Is(err, errIndexMissing) {
		return err
	}
	err = s.update(ctx, func() error { f(); return nil })
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		// A catalog this process may not write (a read-only mount): read
		// what the entry files say, without writing the index.
		return s.readRebuilt(ctx, f)
	}
	return err
}

// readRebuilt runs f on an index rebuilt in memory from the entry files.
func (s *Store) readRebuilt(ctx context.Context, f func()) error {
	found, err := s.scanEntries(ctx)
	if err != nil {
		return err
	}
	idx := catalog.NewIndex()
	for _, c := range found {
		idx.Put(c.it)
	}
	s.log.Warn("catalog: index missing and the catalog is read-only: read from the entry files", "dir", s.dir, "entries", idx.Len())
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.idx
	s.idx = idx
	f()
	s.idx = cur
	return nil
}

// item returns the item of r, refreshing the index first.
func (s *Store) item(ctx context.Context, r vm.Ref) (catalog.Item, error) {
	var it catalog.Item
	ok := false
	if err := s.read(ctx, func() { it, ok = s.idx.Get(r) }); err != nil {
		return it, err
	}
	if !ok {
		return it, fmt.Errorf("%w: %s", catalog.ErrNotFound, r)
	}
	return it, nil
}

// maxEntry bounds an entry file: package lists make them tens of KiB.
const maxEntry = 64 << 20

// load reads and checks the entry file of it.
func (s *Store) load(it catalog.Item) (catalog.Entry, error) {
	want, err := digest.Parse(it.Key)
	if err != nil || want.Algorithm() != digest.SHA256 {
		return catalog.Entry{}, &catalog.CorruptError{Path: s.indexPath(), Err: fmt.Errorf("entry key %q of %s is not a sha256 digest", it.Key, it.Ref)}
	}
	p := s.entryPath(want)
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return catalog.Entry{}, &catalog.CorruptError{Path: p, Err: fmt.Errorf("entry file of %s is missing: %w", it.Ref, err)}
		}
		return catalog.Entry{}, fmt.Errorf("local: %w", err)
	}
	if len(b) > maxEntry {
		return catalog.Entry{}, &catalog.CorruptError{Path: p, Err: fmt.Errorf("%d bytes (limit %d)", len(b), maxEntry)}
	}
	if got := digest.FromBytes(b); got != want {
		return catalog.Entry{}, &catalog.CorruptError{Path: p, Err: &catalog.DigestError{What: "entry of " + it.Ref.String(), Want: want, Got: got}}
	}
	var e catalog.Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return e, &catalog.CorruptError{Path: p, Err: err}
	}
	if e.Ref != it.Ref {
		return e, &catalog.CorruptError{Path: p, Err: fmt.Errorf("holds %s, index says %s", e.Ref, it.Ref)}
	}
	return e, nil
}

// Get returns the entry of r.
func (s *Store) Get(ctx context.Context, r vm.Ref) (catalog.Entry, error) {
	if err := ctx.Err(); err != nil {
		return catalog.Entry{}, err
	}
	it, err := s.item(ctx, r)
	if err != nil {
		return catalog.Entry{}, err
	}
	if r.Digest != "" && r.Digest != it.Ref.Digest {
		return catalog.Entry{}, fmt.Errorf("%w: %s (the catalog has %s)", catalog.ErrNotFound, r, it.Ref)
	}
	return s.load(it)
}

// Find returns the entries q selects.
func (s *Store) Find(ctx context.Context, q catalog.Query) ([]catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var items []catalog.Item
	if err := s.read(ctx, func() { items = s.idx.Find(q) }); err != nil {
		return nil, err
	}
	out := make([]catalog.Entry, 0, len(items))
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e, err := s.load(it)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Latest returns the newest entry q selects.
func (s *Store) Latest(ctx context.Context, q catalog.Query) (catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return catalog.Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return catalog.Entry{}, err
	}
	var it catalog.Item
	ok := false
	if err := s.read(ctx, func() { it, ok = s.idx.Latest(q) }); err != nil {
		return catalog.Entry{}, err
	}
	if !ok {
		return catalog.Entry{}, fmt.Errorf("%w: no entry matches the query", catalog.ErrNotFound)
	}
	return s.load(it)
}

// Len returns the number of entries in the catalog.
func (s *Store) Len() (int, error) {
	n := 0
	err := s.read(context.Background(), func() { n = s.idx.Len() })
	return n, err
}

// Put records e (see [catalog.Store]).
func (s *Store) Put(ctx context.Context, e catalog.Entry) (catalog.Entry, error) {
	if err := e.Validate(); err != nil {
		return catalog.Entry{}, err
	}
	var out catalog.Entry
	err := s.update(ctx, func() error {
		if it, ok := s.idx.Get(e.Ref); ok {
			if it.Ref.Digest != e.Ref.Digest {
				return fmt.Errorf("%w: %s is published with digest %s, not %s", catalog.ErrConflict, it.Ref.Stream()+":"+it.Ref.Version.String(), it.Ref.Digest, e.Ref.Digest)
			}
			var err error
			out, err = s.load(it)
			return err
		}
		if err := s.write(e, nil); err != nil {
			return err
		}
		out = e
		s.log.Info("catalog: put", "ref", e.Ref.String(), "dir", s.dir)
		return nil
	})
	return out, err
}

// Deprecate records d on the entry of r.
func (s *Store) Deprecate(ctx context.Context, r vm.Ref, d catalog.Deprecation) (catalog.Entry, error) {
	var out catalog.Entry
	err := s.update(ctx, func() error {
		it, ok := s.idx.Get(r)
		if !ok || (r.Digest != "" && r.Digest != it.Ref.Digest) {
			return fmt.Errorf("%w: %s", catalog.ErrNotFound, r)
		}
		e, err := s.load(it)
		if err != nil {
			return err
		}
		e.Deprecation = &d
		if err := e.Validate(); err != nil {
			return err
		}
		if err := s.write(e, &it); err != nil {
			return err
		}
		out = e
		s.log.Info("catalog: deprecate", "ref", e.Ref.String(), "dir", s.dir)
		return nil
	})
	return out, err
}

// AddLocations adds locs to the entry of r (see [catalog.LocationRecorder]).
func (s *Store) AddLocations(ctx context.Context, r vm.Ref, locs []catalog.Location) (catalog.Entry, error) {
	var out catalog.Entry
	err := s.update(ctx, func() error {
		it, ok := s.idx.Get(r)
		if !ok || (r.Digest != "" && r.Digest != it.Ref.Digest) {
			return fmt.Errorf("%w: %s", catalog.ErrNotFound, r)
		}
		e, err := s.load(it)
		if err != nil {
			return err
		}
		e.Locations = catalog.MergeLocations(e.Locations, locs)
		if err := e.Validate(); err != nil {
			return err
		}
		if err := s.write(e, &it); err != nil {
			return err
		}
		out = e
		s.log.Info("catalog: add locations", "ref", e.Ref.String(), "dir", s.dir, "locations", len(locs))
		return nil
	})
	return out, err
}

// update runs f holding the directory lock and s.mu, on a fresh index
// (rebuilt if it is missing). The first update of a Store removes the
// temporary files of writers killed mid-write.
func (s *Store) update(ctx context.Context, f func() error) error {
	return s.locked(ctx, func() error {
		if !s.reclaimed {
			if _, err := s.reclaim(); err != nil {
				return err
			}
			s.reclaimed = true
		}
		if err := s.refreshLocked(ctx); err != nil {
			return err
		}
		return f()
	})
}

// write stores e's entry file, then a new index with e in place of old (nil:
// e is new). Callers hold the lock and s.mu.
func (s *Store) write(e catalog.Entry, old *catalog.Item) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return fmt.Errorf("local: encode %s: %w", e.Ref, err)
	}
	key := digest.FromBytes(buf.Bytes())
	p := s.entryPath(key)
	if _, err := os.Stat(p); err != nil {
		if err := atomicfile.WriteBytes(p, 0o644, buf.Bytes()); err != nil {
			return fmt.Errorf("local: write entry %s: %w", e.Ref, err)
		}
	}
	it := catalog.Item{Summary: e.Summary(), Key: key.String()}
	s.idx.Put(it)
	undo := func() {
		if old != nil {
			s.idx.Put(*old)
		} else {
			s.idx.Delete(e.Ref)
		}
	}
	err := atomicfile.WriteFile(s.indexPath(), 0o644, func(w io.Writer) error { return writeIndex(w, s.idx) })
	if err != nil {
		undo()
		return fmt.Errorf("local: write index: %w", err)
	}
	// Hold the new index open: it is the one s.idx now mirrors.
	f, err := os.Open(s.indexPath())
	if err != nil {
		// The write is done; the next read reloads it.
		s.invalidate()
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		s.invalidate()
		return nil
	}
	st := fi.Sys().(*syscall.Stat_t)
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.dev, s.ino = f, uint64(st.Dev), st.Ino
	return nil
}

// invalidate forgets the cached index.
func (s *Store) invalidate() {
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.dev, s.ino = nil, 0, 0
	s.idx = catalog.NewIndex()
}

var _ catalog.Store = (*Store)(nil)
