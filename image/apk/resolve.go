package apk

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// Source is one repository's packages as the resolver sees them, in
// repository order (earlier sources win ties).
type Source struct {
	Name     string     // the repository URL, for errors and the lock
	Tag      string     // pin name: only "name@tag" entries resolve here; "" for a normal repository
	Packages []*Package // from its index

	// Installed marks the packages already installed (apk-tools' installed
	// database, or the packages of a previous lock): the resolver keeps
	// them where they satisfy the world, as `apk add` does without
	// --upgrade. A package here with the checksum of a repository's package
	// is that package; one in no repository stays selectable, as apk-tools
	// keeps an installed package its repositories dropped.
	Installed bool
}

// Selected is one package of a resolution with the source it came from:
// the first repository that has it, or the installed source for a package
// no repository has.
type Selected struct {
	*Package
	Source *Source
}

// UnsatisfiableError shows which requirement could not be met and the
// chain of packages that led to it.
type UnsatisfiableError struct {
	Chain  []string // "world", then each package (name-version) that asked
	Want   string   // the dependency that failed
	Reason string
}

func (e *UnsatisfiableError) Error() string {
	return fmt.Sprintf("apk: unsatisfiable: %s wants %s: %s", strings.Join(e.Chain, " → "), e.Want, e.Reason)
}

// Unwrap returns [ErrUnsatisfiable].
func (e *UnsatisfiableError) Unwrap() error { return ErrUnsatisfiable }

// Resolver picks the package set a world needs from ordered sources, and
// picks the set apk-tools 2.14 picks: it runs apk-tools' deductive solver
// (propagating constraints, disqualifying packages whose dependencies can
// no longer be met, selecting names in apk-tools' order and providers by
// apk-tools' preferences: allowed and preferred repository tags, installed
// packages unless upgrading, the highest version of the requested name and
// of the package, provider_priority, the earliest repository). Where that
// solver gives up (apk-tools reports an error), a complete backtracking
// search over the same preferences looks for a set, so a world resolves
// whenever apk-tools would resolve it, to the same set, and also in the
// cases where a greedy choice leads apk-tools into a conflict. When no set
// exists, the [*UnsatisfiableError] names the chain that failed first.
//
// A Resolver is immutable once built and safe for concurrent use.
type Resolver struct {
	sources []*Source
	names   []dbName
	pkgs    []dbPkg
	byName  map[string]int32
	tags    []string // repository tags; 0 is the default (untagged)
	allowed []uint64 // per tag: the repositories (bit i+1 for source i) it allows
}

// dbName is one name: a package name or one that packages provide.
type dbName struct {
	name       string
	providers  []provider
	rdepends   []int32 // names with a provider that depends on this name
	rinstallIf []int32 // names with a provider whose install_if names this one
}

// provider is a package providing a name, at a version ("" with null for
// an unversioned provides).
type provider struct {
	pkg     int32 // -1: none
	version string
	null    bool
}

var providerNone = provider{pkg: -1, null: true}

// dep is a parsed dependency on a name.
type dep struct {
	name     int32
	op       apkversion.Op
	version  string
	conflict bool
	tag      int
	text     string
}

type dbPkg struct {
	p         *Package
	name      int32
	repos     uint64 // bit i+1: in source i
	installed bool
	src       *Source // the first repository with it, or the installed source
	depends   []dep
	provides  []dep // op apkversion.OpEqual with a version, or apkversion.OpAny (null)
	installIf []dep
}

// maxSources bounds the sources of one Resolver (repository masks are 64
// bits wide; apk-tools allows fewer).
const maxSources = 62

// NewResolver indexes the sources. Packages with the same checksum in
// several sources are one package, as in apk-tools.
func NewResolver(sources ...*Source) (*Resolver, error) {
	if len(sources) > maxSources {
		return nil, fmt.Errorf("%w: %d sources (at most %d)", ErrDependency, len(sources), maxSources)
	}
	r := &Resolver{sources: sources, byName: map[string]int32{}, tags: []string{""}, allowed: []uint64{0}}
	// apk-tools reads the installed database before the repositories.
	order := make([]int, 0, len(sources))
	for i, s := range sources {
		if s.Installed {
			order = append(order, i)
		}
	}
	for i, s := range sources {
		if !s.Installed {
			order = append(order, i)
			t := r.tagID(s.Tag, true)
			r.allowed[t] |= 1 << (i + 1)
		}
	}
	byChecksum := map[string]int32{}
	for _, i := range order {
		s := sources[i]
		for _, p := range s.Packages {
			key := ""
			if p.Checksum != "" {
				key = p.Name + "\x00" + p.Version + "\x00" + p.Checksum
			}
			if id, ok := byChecksum[key]; ok && key != "" {
				dp := &r.pkgs[id]
				if s.Installed {
					dp.installed = true
				} else {
					if dp.repos == 0 {
						dp.src = s
					}
					dp.repos |= 1 << (i + 1)
				}
				continue
			}
			id := int32(len(r.pkgs))
			dp := dbPkg{p: p, name: r.nameID(p.Name), src: s}
			if s.Installed {
				dp.installed = true
			} else {
				dp.repos = 1 << (i + 1)
			}
			var err error
			if dp.depends, err = r.parseDeps(p.Depends, false); err != nil {
				return nil, fmt.Errorf("%s in %s: depends: %w", p, s.Name, err)
			}
			if dp.provides, err = r.parseDeps(p.Provides, true); err != nil {
				return nil, fmt.Errorf("%s in %s: provides: %w", p, s.Name, err)
			}
			if dp.installIf, err = r.parseDeps(p.InstallIf, false); err != nil {
				return nil, fmt.Errorf("%s in %s: install_if: %w", p, s.Name, err)
			}
			r.pkgs = append(r.pkgs, dp)
			if key != "" {
				byChecksum[key] = id
			}
			r.names[dp.name].providers = append(r.names[dp.name].providers, provider{pkg: id, version: p.Version})
			for _, pv := range dp.provides {
				r.names[pv.name].providers = append(r.names[pv.name].providers, provider{pkg: id, version: pv.version, null: pv.op == apkversion.OpAny})
			}
		}
	}
	// Reverse dependencies, as apk_db_name_rdepends builds them.
	seenDep := make([]int32, len(r.names))
	seenIif := make([]int32, len(r.names))
	for n := range r.names {
		mark := int32(n + 1)
		for _, pv := range r.names[n].providers {
			pk := &r.pkgs[pv.pkg]
			for _, d := range pk.depends {
				if seenDep[d.name] != mark {
					seenDep[d.name] = mark
					r.names[d.name].rdepends = append(r.names[d.name].rdepends, int32(n))
				}
			}
			for _, d := range pk.installIf {
				if seenIif[d.name] != mark {
					seenIif[d.name] = mark
					r.names[d.name].rinstallIf = append(r.names[d.name].rinstallIf, int32(n))
				}
			}
		}
	}
	return r, nil
}

func (r *Resolver) nameID(n string) int32 {
	if id, ok := r.byName[n]; ok {
		return id
	}
	id := int32(len(r.names))
	r.byName[n] = id
	r.names = append(r.names, dbName{name: n})
	return id
}

// tagID returns the id of a repository tag; an unknown tag gets an id that
// allows no repository (apk-tools does the same).
func (r *Resolver) tagID(t string, create bool) int {
	for i, x := range r.tags {
		if x == t {
			return i
		}
	}
	if !create {
		return -1
	}
	r.tags = append(r.tags, t)
	r.allowed = append(r.allowed, 0)
	return len(r.tags) - 1
}

// parseDeps parses a D:, p: or i: list as apk-tools reads it.
func (r *Resolver) parseDeps(list []string, provides bool) ([]dep, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]dep, 0, len(list))
	for _, s := range list {
		d, err := parseDepV2(s)
		if err == nil && provides && (d.Conflict || (d.Constraint.Op != apkversion.OpAny && d.Constraint.Op != apkversion.OpEqual)) {
			err = fmt.Errorf("%w: provides %q: want name or name=version", ErrDependency, s)
		}
		if err != nil {
			// apk-tools stops reading a list at its first malformed entry
			// (real indexes carry some, e.g. "pc:librtmp=v2.4") and keeps
			// the entries before it.
			break
		}
		out = append(out, dep{name: r.nameID(d.Name), op: d.Constraint.Op, version: d.Constraint.Version, conflict: d.Conflict, text: s})
	}
	return out, nil
}

// ResolveOption configures one [Resolver.Resolve].
type ResolveOption func(*resolveOptions) error

type resolveOptions struct {
	upgrade     bool
	searchLimit int
}

// WithUpgrade prefers the newest versions over installed ones for the
// world's names and what they pull in (apk add --upgrade).
func WithUpgrade() ResolveOption {
	return func(o *resolveOptions) error { o.upgrade = true; return nil }
}

// WithSearchLimit bounds the backtracking search to n tried choices
// (default 200000); past it the world is reported unsatisfiable with the
// first failure found.
func WithSearchLimit(n int) ResolveOption {
	return func(o *resolveOptions) error {
		if n <= 0 {
			return errors.New("apk: search limit must be positive")
		}
		o.searchLimit = n
		return nil
	}
}

// worldDep parses the world as apk add does: later entries for a name
// replace earlier ones; the result is sorted by name as apk-tools sorts it.
func (r *Resolver) world(world []string) ([]dep, error) {
	var out []dep
	for _, w := range world {
		d, err := ParseDependency(w)
		if err != nil {
			return nil, &UnsatisfiableError{Chain: []string{"world"}, Want: w, Reason: err.Error()}
		}
		id, ok := r.byName[d.Name]
		if !ok {
			if d.Conflict {
				continue // nothing provides it: nothing to conflict with
			}
			return nil, &UnsatisfiableError{Chain: []string{"world"}, Want: w, Reason: "no package is or provides " + d.Name}
		}
		t := 0
		if d.Tag != "" {
			if t = r.tagID(d.Tag, false); t < 0 {
				return nil, &UnsatisfiableError{Chain: []string{"world"}, Want: w, Reason: fmt.Sprintf("no repository is tagged %q", d.Tag)}
			}
		}
		nd := dep{name: id, op: d.Constraint.Op, version: d.Constraint.Version, conflict: d.Conflict, tag: t, text: w}
		replaced := false
		for i := range out {
			if out[i].name == id {
				out[i], replaced = nd, true
			}
		}
		if !replaced {
			out = append(out, nd)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return nameDisplayLess(r.names[out[i].name].name, r.names[out[j].name].name)
	})
	return out, nil
}

// nameDisplayLess orders names as apk_name_cmp_display: case-insensitive,
// then case-sensitive.
func nameDisplayLess(a, b string) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

// Resolve returns the packages world needs, sorted by name.
func (r *Resolver) Resolve(world []string, opts ...ResolveOption) ([]Selected, error) {
	o := resolveOptions{searchLimit: 200000}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	w, err := r.world(world)
	if err != nil {
		return nil, err
	}
	var flags uint16
	if o.upgrade {
		flags = solverUpgrade
	}
	pkgs, ok := r.solveAPK(w, flags)
	if !ok {
		var uerr *UnsatisfiableError
		pkgs, uerr = r.backtrack(w, o)
		if uerr != nil {
			return nil, uerr
		}
	}
	out := make([]Selected, 0, len(pkgs))
	for _, id := range pkgs {
		out = append(out, Selected{Package: r.pkgs[id].p, Source: r.pkgs[id].src})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return apkversion.Compare(out[i].Version, out[j].Version) < 0
	})
	return out, nil
}

// isProvided reports whether provider p satisfies d (apk_dep_is_provided).
func (r *Resolver) isProvided(d *dep, p provider) bool {
	if p.pkg < 0 {
		return d.conflict
	}
	switch {
	case d.op == apkversion.OpChecksum:
		return (r.pkgs[p.pkg].p.Checksum == d.version) != d.conflict
	case d.op&apkversion.OpAny == apkversion.OpAny || d.op == 0:
		return !d.conflict
	case p.null:
		return d.conflict
	case apkversion.Match(p.version, d.op, d.version):
		return !d.conflict
	}
	return d.conflict
}

func (r *Resolver) pkgString(id int32) string {
	if id < 0 {
		return "world"
	}
	return r.pkgs[id].p.String()
}

// parseDepV2 parses a dependency as apk-tools 2 reads index fields: like
// ParseDependency, but with apk-tools 2's (more lenient) version grammar.
func parseDepV2(s string) (Dependency, error) {
	d, err := ParseDependency(s)
	if err == nil || !errors.Is(err, ErrVersion) {
		return d, err
	}
	body := strings.TrimPrefix(s, "!")
	i := strings.IndexAny(body, depOpChars)
	if i < 0 {
		return d, err
	}
	j := i
	for j < len(body) && strings.IndexByte(depOpChars, body[j]) >= 0 {
		j++
	}
	name, ver := body[:i], body[j:]
	op, oerr := apkversion.ParseOp(body[i:j])
	if oerr != nil || !validV2(ver) {
		return d, err
	}
	tag := ""
	if at := strings.IndexByte(name, '@'); at >= 0 {
		name, tag = name[:at], name[at+1:]
	}
	if !validName(name) {
		return d, err
	}
	return Dependency{Name: name, Constraint: apkversion.Constraint{Op: op, Version: ver}, Conflict: len(body) < len(s), Tag: tag}, nil
}
