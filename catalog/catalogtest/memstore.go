package catalogtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// memStore is a minimal in-memory Store for the registrar kit, so that the
// kit does not depend on a store implementation.
type memStore struct {
	mu  sync.Mutex
	idx *catalog.Index
	es  map[string]catalog.Entry
}

func (m *memStore) init() {
	if m.idx == nil {
		m.idx, m.es = catalog.NewIndex(), map[string]catalog.Entry{}
	}
}

func (m *memStore) Put(_ context.Context, e catalog.Entry) (catalog.Entry, error) {
	if err := e.Validate(); err != nil {
		return catalog.Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if it, ok := m.idx.Get(e.Ref); ok {
		if it.Ref.Digest != e.Ref.Digest {
			return catalog.Entry{}, fmt.Errorf("%w: %s", catalog.ErrConflict, e.Ref)
		}
		return m.es[it.Key], nil
	}
	m.idx.Put(catalog.Item{Summary: e.Summary(), Key: e.Ref.String()})
	m.es[e.Ref.String()] = e
	return e, nil
}

func (m *memStore) Get(_ context.Context, r vm.Ref) (catalog.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	it, ok := m.idx.Get(r)
	if !ok || (r.Digest != "" && r.Digest != it.Ref.Digest) {
		return catalog.Entry{}, fmt.Errorf("%w: %s", catalog.ErrNotFound, r)
	}
	return m.es[it.Key], nil
}

func (m *memStore) Find(_ context.Context, q catalog.Query) ([]catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	var out []catalog.Entry
	for _, it := range m.idx.Find(q) {
		out = append(out, m.es[it.Key])
	}
	return out, nil
}

func (m *memStore) Latest(_ context.Context, q catalog.Query) (catalog.Entry, error) {
	if err := q.Validate(); err != nil {
		return catalog.Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	it, ok := m.idx.Latest(q)
	if !ok {
		return catalog.Entry{}, catalog.ErrNotFound
	}
	return m.es[it.Key], nil
}

func (m *memStore) Deprecate(_ context.Context, r vm.Ref, d catalog.Deprecation) (catalog.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	it, ok := m.idx.Get(r)
	if !ok {
		return catalog.Entry{}, fmt.Errorf("%w: %s", catalog.ErrNotFound, r)
	}
	e := m.es[it.Key]
	e.Deprecation = &d
	m.es[it.Key] = e
	m.idx.Put(catalog.Item{Summary: e.Summary(), Key: it.Key})
	return e, nil
}

func (m *memStore) AddLocations(_ context.Context, r vm.Ref, locs []catalog.Location) (catalog.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	it, ok := m.idx.Get(r)
	if !ok || (r.Digest != "" && r.Digest != it.Ref.Digest) {
		return catalog.Entry{}, fmt.Errorf("%w: %s", catalog.ErrNotFound, r)
	}
	e := m.es[it.Key]
	e.Locations = catalog.MergeLocations(e.Locations, locs)
	m.es[it.Key] = e
	m.idx.Put(catalog.Item{Summary: e.Summary(), Key: it.Key})
	return e, nil
}

// NewMemStore returns an in-memory Store, for tests that need a catalog
// but not persistence.
func NewMemStore() catalog.Store { return &memStore{} }
