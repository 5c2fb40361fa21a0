package catalog

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hardvm/hardvm/vm"
)

// FIPSFilter selects entries by FIPS mode.
type FIPSFilter int

// FIPS filters: any (the zero value), FIPS images only, non-FIPS only.
const (
	AnyFIPS FIPSFilter = iota
	FIPSOnly
	NoFIPS
)

// Query selects entries. Zero fields match everything; the zero Query
// matches every entry that is not deprecated.
type Query struct {
	Variant  string
	Platform vm.Cloud
	Arch     vm.Arch
	Kernel   vm.KernelTrack
	FIPS     FIPSFilter
	// Region keeps entries with a location in this region.
	Region string
	// MinVersion and MaxVersion bound the version, both inclusive; zero
	// means unbounded.
	MinVersion, MaxVersion vm.Version
	// AsOf shows the catalog as it was at that time: only entries published
	// by then, and deprecated only if deprecated by then. Zero means now.
	AsOf time.Time
	// IncludeDeprecated keeps deprecated entries.
	IncludeDeprecated bool
}

// StreamQuery returns the query for the stream of r: its variant,
// platform, arch, kernel track and FIPS mode.
func StreamQuery(r vm.Ref) Query {
	q := Query{Variant: r.Variant, Platform: r.Platform, Arch: r.Arch, Kernel: r.Kernel, FIPS: NoFIPS}
	if r.FIPS {
		q.FIPS = FIPSOnly
	}
	return q
}

// Validate checks the query's names against vm's tables.
func (q Query) Validate() error {
	var errs []string
	if q.Variant != "" {
		if _, err := vm.LookupVariant(q.Variant); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if q.Platform != "" && !q.Platform.Valid() {
		errs = append(errs, fmt.Sprintf("platform %q", q.Platform))
	}
	if q.Arch != "" && !q.Arch.Valid() {
		errs = append(errs, fmt.Sprintf("arch %q", q.Arch))
	}
	if q.Kernel != "" && !q.Kernel.Valid() {
		errs = append(errs, fmt.Sprintf("kernel track %q", q.Kernel))
	}
	if q.FIPS < AnyFIPS || q.FIPS > NoFIPS {
		errs = append(errs, fmt.Sprintf("fips filter %d", q.FIPS))
	}
	if !q.MinVersion.IsZero() && !q.MaxVersion.IsZero() && q.MinVersion.Compare(q.MaxVersion) > 0 {
		errs = append(errs, fmt.Sprintf("version range %s..%s is empty", q.MinVersion, q.MaxVersion))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: query: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Summary is what queries look at: the part of an entry an index keeps.
type Summary struct {
	Ref        vm.Ref
	Published  time.Time
	Deprecated time.Time // zero: not deprecated
	Regions    []string  // sorted
}

// Summary returns the queryable facts of e.
func (e *Entry) Summary() Summary {
	s := Summary{Ref: e.Ref, Published: e.Published, Regions: e.Regions()}
	if e.Deprecation != nil {
		s.Deprecated = e.Deprecation.Time
	}
	return s
}

// stream returns the stream q names, if it names every part of one.
func (q *Query) stream() (string, bool) {
	if q.Variant == "" || q.Platform == "" || q.Arch == "" || q.Kernel == "" || q.FIPS == AnyFIPS {
		return "", false
	}
	return vm.Ref{Variant: q.Variant, Platform: q.Platform, Arch: q.Arch, Kernel: q.Kernel, FIPS: q.FIPS == FIPSOnly}.Stream(), true
}

// matchStream reports whether the stream fields of q admit r.
func (q *Query) matchStream(r *vm.Ref) bool {
	return (q.Variant == "" || q.Variant == r.Variant) &&
		(q.Platform == "" || q.Platform == r.Platform) &&
		(q.Arch == "" || q.Arch == r.Arch) &&
		(q.Kernel == "" || q.Kernel == r.Kernel) &&
		(q.FIPS == AnyFIPS || (q.FIPS == FIPSOnly) == r.FIPS)
}

// Matches reports whether q selects the entry summarised by s.
func (q *Query) Matches(s *Summary) bool {
	if !q.matchStream(&s.Ref) {
		return false
	}
	return q.matchRest(s)
}

func (q *Query) matchRest(s *Summary) bool {
	if !q.MinVersion.IsZero() && s.Ref.Version.Compare(q.MinVersion) < 0 {
		return false
	}
	if !q.MaxVersion.IsZero() && s.Ref.Version.Compare(q.MaxVersion) > 0 {
		return false
	}
	if !q.AsOf.IsZero() && s.Published.After(q.AsOf) {
		return false
	}
	if !q.IncludeDeprecated && !s.Deprecated.IsZero() && (q.AsOf.IsZero() || !s.Deprecated.After(q.AsOf)) {
		return false
	}
	if q.Region != "" {
		if _, ok := slices.BinarySearch(s.Regions, q.Region); !ok {
			return false
		}
	}
	return true
}

// Item is one entry in an [Index]: its summary and the key under which its
// store finds the full entry.
type Item struct {
	Summary
	Key string
}

// Index is an in-memory index of a catalog by stream, with each stream's
// entries sorted by version, so that Latest is a short walk back from the
// newest build of each stream. Stores keep one. It is not safe for
// concurrent use; stores guard it.
type Index struct {
	streams map[string][]Item // by Ref.Stream(), sorted by version
	keys    []string          // stream names, sorted
	n       int
}

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{streams: map[string][]Item{}} }

// Len returns the number of entries.
func (x *Index) Len() int { return x.n }

// Put adds it, replacing any item of the same stream and version. It
// returns the item it replaced, if any.
func (x *Index) Put(it Item) (Item, bool) {
	key := it.Ref.Stream()
	s, ok := x.streams[key]
	if !ok {
		i, _ := slices.BinarySearch(x.keys, key)
		x.keys = slices.Insert(x.keys, i, key)
	}
	i, found := slices.BinarySearchFunc(s, it.Ref.Version, func(a Item, v vm.Version) int { return a.Ref.Version.Compare(v) })
	if found {
		old := s[i]
		s[i] = it
		return old, true
	}
	// Appending in version order is the common case: keep it O(1).
	if i == len(s) {
		s = append(s, it)
	} else {
		s = slices.Insert(s, i, it)
	}
	x.streams[key] = s
	x.n++
	return Item{}, false
}

// Delete removes the item of r's stream and version, reporting whether
// there was one.
func (x *Index) Delete(r vm.Ref) bool {
	key := r.Stream()
	s := x.streams[key]
	i, found := slices.BinarySearchFunc(s, r.Version, func(a Item, v vm.Version) int { return a.Ref.Version.Compare(v) })
	if !found {
		return false
	}
	s = slices.Delete(s, i, i+1)
	x.n--
	if len(s) == 0 {
		delete(x.streams, key)
		j, _ := slices.BinarySearch(x.keys, key)
		x.keys = slices.Delete(x.keys, j, j+1)
		return true
	}
	x.streams[key] = s
	return true
}

// Get returns the item of r's stream and version (r's digest is not
// compared).
func (x *Index) Get(r vm.Ref) (Item, bool) {
	s := x.streams[r.Stream()]
	i, found := slices.BinarySearchFunc(s, r.Version, func(a Item, v vm.Version) int { return a.Ref.Version.Compare(v) })
	if !found {
		return Item{}, false
	}
	return s[i], true
}

// All calls yield for every item, by stream then version.
func (x *Index) All(yield func(Item) bool) {
	for _, k := range x.keys {
		for _, it := range x.streams[k] {
			if !yield(it) {
				return
			}
		}
	}
}

// Find returns the items q selects, sorted by stream then version.
func (x *Index) Find(q Query) []Item {
	var out []Item
	for _, k := range x.keys {
		s := x.streams[k]
		if len(s) == 0 || !q.matchStream(&s[0].Ref) {
			continue
		}
		lo, hi := x.bounds(s, &q)
		for i := lo; i < hi; i++ {
			if q.matchRest(&s[i].Summary) {
				out = append(out, s[i])
			}
		}
	}
	return out
}

// bounds returns the range of s inside q's version range.
func (x *Index) bounds(s []Item, q *Query) (int, int) {
	lo, hi := 0, len(s)
	if !q.MinVersion.IsZero() {
		lo, _ = slices.BinarySearchFunc(s, q.MinVersion, func(a Item, v vm.Version) int { return a.Ref.Version.Compare(v) })
	}
	if !q.MaxVersion.IsZero() {
		i, found := slices.BinarySearchFunc(s, q.MaxVersion, func(a Item, v vm.Version) int { return a.Ref.Version.Compare(v) })
		if found {
			i++
		}
		hi = i
	}
	return lo, max(lo, hi)
}

// Latest returns the newest item q selects: the highest version, and
// between streams with the same version, the first stream by name.
func (x *Index) Latest(q Query) (Item, bool) {
	var best Item
	ok := false
	keys := x.keys
	if k, full := q.stream(); full {
		keys = []string{k} // one stream: no scan
	}
	for _, k := range keys {
		s := x.streams[k]
		if len(s) == 0 || !q.matchStream(&s[0].Ref) {
			continue
		}
		lo, hi := x.bounds(s, &q)
		for i := hi - 1; i >= lo; i-- {
			if ok && s[i].Ref.Version.Compare(best.Ref.Version) <= 0 {
				break
			}
			if q.matchRest(&s[i].Summary) {
				best, ok = s[i], true
				break
			}
		}
	}
	return best, ok
}
