package apk

import (
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
}

// Selected is one package of a resolution with the source it came from.
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

// Resolver picks the package set a world needs from ordered sources, the
// way apk-tools chooses: a package of the wanted name before providers of
// it, then the higher provider_priority, the higher version, the earlier
// repository, the lower name. It is deterministic: the same sources and
// world give the same set. It resolves greedily, breadth first (apko's
// approach), without backtracking over choices already made: when a later
// constraint contradicts an earlier choice it reports the chain rather than
// search.
type Resolver struct {
	sources   []*Source
	providers map[string][]candidate // name → packages that are or provide it
}

type candidate struct {
	pkg      *Package
	src      *Source
	srcIndex int
	version  string // version it provides the name at ("" for unversioned provides)
	direct   bool   // the package's own name
}

// NewResolver indexes the sources.
func NewResolver(sources ...*Source) (*Resolver, error) {
	r := &Resolver{sources: sources, providers: map[string][]candidate{}}
	for i, s := range sources {
		for _, p := range s.Packages {
			r.providers[p.Name] = append(r.providers[p.Name], candidate{pkg: p, src: s, srcIndex: i, version: p.Version, direct: true})
			for _, pv := range p.Provides {
				d, err := ParseDependency(pv)
				if err != nil {
					return nil, fmt.Errorf("%s in %s: provides: %w", p, s.Name, err)
				}
				v := ""
				if d.Op == OpEqual {
					v = d.Version
				}
				r.providers[d.Name] = append(r.providers[d.Name], candidate{pkg: p, src: s, srcIndex: i, version: v})
			}
		}
	}
	return r, nil
}

type want struct {
	dep   Dependency
	chain []string
}

// Resolve returns the packages world needs, sorted by name.
func (r *Resolver) Resolve(world []string) ([]Selected, error) {
	var queue []want
	var conflicts []want
	for _, w := range world {
		d, err := ParseDependency(w)
		if err != nil {
			return nil, &UnsatisfiableError{Chain: []string{"world"}, Want: w, Reason: err.Error()}
		}
		queue = append(queue, want{dep: d, chain: []string{"world"}})
	}
	selected := map[string]*candidate{} // by package name
	var order []*candidate
	provided := map[string][]*candidate{} // name → selected packages providing it
	add := func(c *candidate, chain []string) error {
		selected[c.pkg.Name] = c
		order = append(order, c)
		provided[c.pkg.Name] = append(provided[c.pkg.Name], c)
		for _, pv := range c.pkg.Provides {
			d, _ := ParseDependency(pv)
			provided[d.Name] = append(provided[d.Name], c)
		}
		next := append(append([]string(nil), chain...), c.pkg.String())
		for _, ds := range c.pkg.Depends {
			d, err := ParseDependency(ds)
			if err != nil {
				return &UnsatisfiableError{Chain: next, Want: ds, Reason: err.Error()}
			}
			queue = append(queue, want{dep: d, chain: next})
		}
		return nil
	}
	for {
		for len(queue) > 0 {
			w := queue[0]
			queue = queue[1:]
			if w.dep.Conflict {
				conflicts = append(conflicts, w)
				continue
			}
			if r.satisfied(w.dep, provided) {
				continue
			}
			c, reason := r.choose(w.dep, selected, conflicts)
			if c == nil {
				return nil, &UnsatisfiableError{Chain: w.chain, Want: w.dep.String(), Reason: reason}
			}
			if err := add(c, w.chain); err != nil {
				return nil, err
			}
		}
		// install_if: a package comes in once everything it names is in.
		more := false
		for _, s := range r.sources {
			if s.Tag != "" {
				continue
			}
			for _, p := range s.Packages {
				if len(p.InstallIf) == 0 || selected[p.Name] != nil {
					continue
				}
				all := true
				for _, is := range p.InstallIf {
					d, err := ParseDependency(is)
					if err != nil || !r.satisfied(d, provided) {
						all = false
						break
					}
				}
				if all {
					queue = append(queue, want{dep: Dependency{Name: p.Name, Op: OpEqual, Version: p.Version}, chain: []string{"install_if"}})
					more = true
				}
			}
		}
		if !more {
			break
		}
	}
	for _, w := range conflicts {
		for _, c := range provided[w.dep.Name] {
			if w.dep.MatchesVersion(c.version) {
				return nil, &UnsatisfiableError{Chain: w.chain, Want: w.dep.String(), Reason: c.pkg.String() + " is installed (wanted by the rest of the world)"}
			}
		}
	}
	out := make([]Selected, 0, len(order))
	for _, c := range order {
		out = append(out, Selected{Package: c.pkg, Source: c.src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *Resolver) satisfied(d Dependency, provided map[string][]*candidate) bool {
	for _, c := range provided[d.Name] {
		v := c.version
		if c.pkg.Name == d.Name {
			v = c.pkg.Version
		}
		if d.Tag != "" && c.src.Tag != d.Tag {
			continue
		}
		if d.MatchesVersion(v) {
			return true
		}
	}
	return false
}

// choose picks the best provider of d that fits what is selected.
func (r *Resolver) choose(d Dependency, selected map[string]*candidate, conflicts []want) (*candidate, string) {
	all := r.providers[d.Name]
	if len(all) == 0 {
		return nil, "no package is or provides " + d.Name
	}
	var fits []candidate
	reason := ""
	for _, c := range all {
		switch {
		case c.src.Tag != d.Tag:
			if reason == "" {
				if d.Tag != "" {
					reason = fmt.Sprintf("no provider in a repository tagged %q", d.Tag)
				} else {
					reason = "providers only in tagged repositories (pin with name@tag)"
				}
			}
			continue
		case !d.MatchesVersion(c.version):
			reason = fmt.Sprintf("no version matches (%s has %s)", c.pkg.Name, or(c.version, "an unversioned provides"))
			continue
		}
		if s := selected[c.pkg.Name]; s != nil && s.pkg != c.pkg {
			reason = fmt.Sprintf("%s is already chosen, and does not satisfy it", s.pkg)
			continue
		}
		blocked := false
		for _, w := range conflicts {
			if w.dep.Name == c.pkg.Name && w.dep.MatchesVersion(c.pkg.Version) {
				reason = fmt.Sprintf("%s conflicts with %s (from %s)", c.pkg, w.dep, strings.Join(w.chain, " → "))
				blocked = true
			}
		}
		if !blocked {
			fits = append(fits, c)
		}
	}
	if len(fits) == 0 {
		if s := selected[d.Name]; s != nil {
			reason = fmt.Sprintf("%s is already chosen, and does not satisfy it", s.pkg)
		}
		return nil, reason
	}
	sort.SliceStable(fits, func(i, j int) bool {
		a, b := fits[i], fits[j]
		if a.direct != b.direct {
			return a.direct
		}
		if a.pkg.ProviderPriority != b.pkg.ProviderPriority {
			return a.pkg.ProviderPriority > b.pkg.ProviderPriority
		}
		if a.pkg.Name == b.pkg.Name {
			if c := apkversion.Compare(a.pkg.Version, b.pkg.Version); c != 0 {
				return c > 0
			}
		}
		if a.srcIndex != b.srcIndex {
			return a.srcIndex < b.srcIndex
		}
		if a.pkg.Name != b.pkg.Name {
			return a.pkg.Name < b.pkg.Name
		}
		return apkversion.Compare(a.pkg.Version, b.pkg.Version) > 0
	})
	c := fits[0]
	return &c, ""
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
