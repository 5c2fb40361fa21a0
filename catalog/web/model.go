package web

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// snapshot is the catalog as the pages see it, loaded once per refresh so
// that a page is rendered from memory: streams and their versions, with
// package lists interned (a catalog's builds share most of their packages)
// so that 100,000 entries fit in tens of megabytes.
type snapshot struct {
	loaded  time.Time
	streams []*stream // by key
	byKey   map[string]*stream
	entries int
	invalid []string // entries skipped because they do not validate

	pkgs   []catalog.Package // interned packages, by id
	pkgIDs map[catalog.Package]uint32
	byName map[string][]uint32 // package name → ids of its versions
}

// stream is one stream of builds.
type stream struct {
	key      string // vm.Ref.Stream()
	ref      vm.Ref // the stream's fields; no version, no digest
	family   vm.Family
	versions []*version // by version, oldest first
}

// version is one entry of a stream.
type version struct {
	e      catalog.Entry // Packages cleared: see pkgs
	pkgs   []uint32      // interned package ids, sorted by id
	stream *stream
	i      int // index in stream.versions
}

// load builds a snapshot from every entry of store.
func load(ctx context.Context, store catalog.Store, now time.Time) (*snapshot, error) {
	es, err := store.Find(ctx, catalog.Query{IncludeDeprecated: true})
	if err != nil {
		return nil, err
	}
	return build(es, now), nil
}

// build makes a snapshot of es.
func build(es []catalog.Entry, now time.Time) *snapshot {
	s := &snapshot{loaded: now, byKey: map[string]*stream{}, pkgIDs: map[catalog.Package]uint32{}, byName: map[string][]uint32{}}
	for _, e := range es {
		if err := e.Validate(); err != nil {
			s.invalid = append(s.invalid, err.Error())
			continue
		}
		key := e.Ref.Stream()
		st, ok := s.byKey[key]
		if !ok {
			r := e.Ref
			r.Version, r.Digest = vm.Version{}, ""
			st = &stream{key: key, ref: r}
			if v, err := vm.LookupVariant(r.Variant); err == nil {
				st.family = v.Family
			}
			s.byKey[key] = st
			s.streams = append(s.streams, st)
		}
		v := &version{stream: st, pkgs: make([]uint32, 0, len(e.Packages))}
		for _, p := range e.Packages {
			v.pkgs = append(v.pkgs, s.intern(p))
		}
		slices.Sort(v.pkgs)
		e.Packages = nil
		v.e = e
		st.versions = append(st.versions, v)
		s.entries++
	}
	slices.SortFunc(s.streams, func(a, b *stream) int { return strings.Compare(a.key, b.key) })
	for _, st := range s.streams {
		slices.SortFunc(st.versions, func(a, b *version) int { return a.e.Ref.Version.Compare(b.e.Ref.Version) })
		st.versions = slices.CompactFunc(st.versions, func(a, b *version) bool { return a.e.Ref.Version == b.e.Ref.Version })
		for i, v := range st.versions {
			v.i = i
		}
	}
	return s
}

func (s *snapshot) intern(p catalog.Package) uint32 {
	if id, ok := s.pkgIDs[p]; ok {
		return id
	}
	id := uint32(len(s.pkgs))
	s.pkgs = append(s.pkgs, p)
	s.pkgIDs[p] = id
	s.byName[p.Name] = append(s.byName[p.Name], id)
	return id
}

// entry returns v's entry with its package list, sorted by name.
func (s *snapshot) entry(v *version) catalog.Entry {
	e := v.e
	e.Packages = make([]catalog.Package, len(v.pkgs))
	for i, id := range v.pkgs {
		e.Packages[i] = s.pkgs[id]
	}
	slices.SortFunc(e.Packages, func(a, b catalog.Package) int { return strings.Compare(a.Name, b.Name) })
	return e
}

// version returns the version of r's stream and version.
func (s *snapshot) version(r vm.Ref) (*version, bool) {
	st, ok := s.byKey[r.Stream()]
	if !ok {
		return nil, false
	}
	i, found := slices.BinarySearchFunc(st.versions, r.Version, func(v *version, w vm.Version) int { return v.e.Ref.Version.Compare(w) })
	if !found {
		return nil, false
	}
	return st.versions[i], true
}

// latest returns the newest version of st not deprecated at now, or the
// newest if all are.
func (st *stream) latest(now time.Time) *version {
	for i := len(st.versions) - 1; i >= 0; i-- {
		if !st.versions[i].e.DeprecatedAt(now) {
			return st.versions[i]
		}
	}
	return st.versions[len(st.versions)-1]
}

// previous returns the version before v in its stream.
func (v *version) previous() (*version, bool) {
	if v.i == 0 {
		return nil, false
	}
	return v.stream.versions[v.i-1], true
}

// next returns the version after v in its stream.
func (v *version) next() (*version, bool) {
	if v.i+1 >= len(v.stream.versions) {
		return nil, false
	}
	return v.stream.versions[v.i+1], true
}

// delta returns the delta from the previous version of v's stream.
func (s *snapshot) delta(v *version) (*catalog.Delta, bool) {
	p, ok := v.previous()
	if !ok {
		return nil, false
	}
	d := catalog.Diff(s.entry(p), s.entry(v))
	return &d, true
}

// pkgMatch selects the package ids a search names: a package name and
// optionally a version, exact ("3.5.1-r0") or without the release
// ("3.5.1" matches 3.5.1-r0 and 3.5.1-r3).
func (s *snapshot) pkgMatch(name, ver string) []uint32 {
	var ids []uint32
	for _, id := range s.byName[name] {
		v := s.pkgs[id].Version
		if ver == "" || v == ver || strings.HasPrefix(v, ver+"-r") {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// contains reports whether v has one of ids (sorted).
func (v *version) contains(ids []uint32) bool {
	// ids is short (the versions of one package); v.pkgs is sorted by id.
	for _, id := range ids {
		if _, ok := slices.BinarySearch(v.pkgs, id); ok {
			return true
		}
	}
	return false
}

// filter is what the directory's form selects.
type filter struct {
	Family   string
	Variant  string
	Platform string
	Arch     string
	Track    string
	FIPS     string // "", "yes", "no"
	Package  string
	Version  string // of Package
}

// validate checks the filter's names against vm's tables, so that nothing
// unknown is echoed or matched.
func (f filter) validate() error {
	var bad []string
	if f.Family != "" && !slices.Contains(vm.Families(), vm.Family(f.Family)) {
		bad = append(bad, "family")
	}
	if f.Variant != "" {
		if _, err := vm.LookupVariant(f.Variant); err != nil {
			bad = append(bad, "variant")
		}
	}
	if f.Platform != "" && !vm.Cloud(f.Platform).Valid() {
		bad = append(bad, "platform")
	}
	if f.Arch != "" && !vm.Arch(f.Arch).Valid() {
		bad = append(bad, "arch")
	}
	if f.Track != "" && !vm.KernelTrack(f.Track).Valid() {
		bad = append(bad, "track")
	}
	if f.FIPS != "" && f.FIPS != "yes" && f.FIPS != "no" {
		bad = append(bad, "fips")
	}
	if len(f.Package) > 256 || len(f.Version) > 256 || (f.Version != "" && f.Package == "") {
		bad = append(bad, "package")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: filter %s", ErrOption, strings.Join(bad, ", "))
	}
	return nil
}

func (f filter) match(st *stream) bool {
	r := st.ref
	return (f.Family == "" || string(st.family) == f.Family) &&
		(f.Variant == "" || r.Variant == f.Variant) &&
		(f.Platform == "" || string(r.Platform) == f.Platform) &&
		(f.Arch == "" || string(r.Arch) == f.Arch) &&
		(f.Track == "" || string(r.Kernel) == f.Track) &&
		(f.FIPS == "" || (f.FIPS == "yes") == r.FIPS)
}

// streamsOf returns the streams f selects and, with a package search, the
// versions of each that contain the package (newest first).
func (s *snapshot) streamsOf(f filter) ([]*stream, map[*stream][]*version) {
	var ids []uint32
	search := f.Package != ""
	if search {
		ids = s.pkgMatch(f.Package, f.Version)
	}
	var out []*stream
	matches := map[*stream][]*version{}
	for _, st := range s.streams {
		if !f.match(st) {
			continue
		}
		if search {
			if len(ids) == 0 {
				continue
			}
			var ms []*version
			for i := len(st.versions) - 1; i >= 0; i-- {
				if st.versions[i].contains(ids) {
					ms = append(ms, st.versions[i])
				}
			}
			if len(ms) == 0 {
				continue
			}
			matches[st] = ms
		}
		out = append(out, st)
	}
	return out, matches
}

// sizeOf returns the size of v's artifact of format f, if it has one.
func sizeOf(e *catalog.Entry, f vm.DiskFormat) (int64, bool) {
	a, ok := e.Artifact(f)
	return a.Size, ok
}

// formatsOf returns the disk formats a stream's versions have, in vm's
// order.
func formatsOf(st *stream) []vm.DiskFormat {
	var fs []vm.DiskFormat
	for _, v := range st.versions {
		for _, a := range v.e.Artifacts {
			if !slices.Contains(fs, a.Format) {
				fs = append(fs, a.Format)
			}
		}
	}
	order := vm.DiskFormats()
	slices.SortFunc(fs, func(a, b vm.DiskFormat) int {
		return cmp.Compare(slices.Index(order, a), slices.Index(order, b))
	})
	return fs
}
