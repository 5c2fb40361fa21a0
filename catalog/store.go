package catalog

import (
	"context"

	"github.com/hardvm/hardvm/vm"
)

// Store keeps a catalog's entries. Implementations are safe for concurrent
// use, by several goroutines and (for the stores hardvm ships) several
// processes, and every write is atomic: a reader sees an entry whole or not
// at all. [catalogtest.RunStore] checks an implementation.
type Store interface {
	// Put records e, which must be valid. If an entry of the same stream
	// and version exists with the same digest, Put records nothing and
	// returns the stored entry (publishing is idempotent); with another
	// digest it fails with ErrConflict. Otherwise it returns e.
	Put(ctx context.Context, e Entry) (Entry, error)
	// Get returns the entry of r's stream and version; if r has a digest,
	// the entry's must be the same. It fails with ErrNotFound.
	Get(ctx context.Context, r vm.Ref) (Entry, error)
	// Find returns the entries q selects, by stream then version.
	Find(ctx context.Context, q Query) ([]Entry, error)
	// Latest returns the newest entry q selects, or ErrNotFound.
	Latest(ctx context.Context, q Query) (Entry, error)
	// Deprecate records d on the entry of r and returns the updated entry.
	// Deprecating again replaces the record.
	Deprecate(ctx context.Context, r vm.Ref, d Deprecation) (Entry, error)
}
