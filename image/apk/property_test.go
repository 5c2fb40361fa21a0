package apk

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// checkSatisfied is the property every resolution must have, checked from
// the packages' own fields rather than from the resolver's tables: every
// world entry and every dependency of every selected package is met by a
// selected package (by name or provides, at a matching version, from a
// repository the entry's tag allows), no conflict ("!name") matches a
// selected package, and no name is provided twice unless every provider
// provides it without a version (apk-tools' rule).
func checkSatisfied(t testing.TB, r *Resolver, world []string, sel []Selected) {
	t.Helper()
	if err := satisfies(world, sel); err != nil {
		t.Fatal(err)
	}
}

type selProvider struct {
	s       Selected
	version string // "" for an unversioned provides
	own     bool
}

func satisfies(world []string, sel []Selected) error {
	prov := map[string][]selProvider{}
	for _, s := range sel {
		prov[s.Name] = append(prov[s.Name], selProvider{s: s, version: s.Version, own: true})
		for _, pv := range s.Provides {
			d, err := parseDepV2(pv)
			if err != nil {
				break // apk-tools ignores the rest of the list
			}
			v := ""
			if d.Constraint.Op == apkversion.OpEqual {
				v = d.Constraint.Version
			}
			prov[d.Name] = append(prov[d.Name], selProvider{s: s, version: v})
		}
	}
	for n, ps := range prov {
		if len(ps) < 2 {
			continue
		}
		for _, p := range ps {
			if p.own || p.version != "" {
				return fmt.Errorf("%s is provided by %d selected packages (%s, ...), not all unversioned", n, len(ps), p.s.Package)
			}
		}
	}
	check := func(who string, ds string, world bool) error {
		d, err := parseDepV2(ds)
		if err != nil {
			return nil // apk-tools drops unparsable entries
		}
		matched := false
		for _, p := range prov[d.Name] {
			if d.Tag != "" && p.s.Source.Tag != d.Tag && p.s.Source.Tag != "" {
				continue // name@tag allows the tagged repository besides the untagged ones
			}
			if d.Constraint.Op == apkversion.OpChecksum {
				matched = matched || p.s.Checksum == d.Constraint.Version
				continue
			}
			if d.Constraint.Match(p.version) {
				matched = true
			}
		}
		if d.Conflict && matched {
			return fmt.Errorf("%s conflicts with %s, but it is selected", who, ds)
		}
		if !d.Conflict && !matched {
			return fmt.Errorf("%s wants %s: nothing selected provides it", who, ds)
		}
		return nil
	}
	for _, w := range dedupeWorld(world) {
		if err := check("world", w, true); err != nil {
			return err
		}
	}
	for _, s := range sel {
		for _, ds := range s.Depends {
			if _, err := parseDepV2(ds); err != nil {
				break
			}
			if err := check(s.Package.String(), ds, false); err != nil {
				return err
			}
		}
		if s.Source.Tag != "" && !tagWanted(world, sel, s) {
			return fmt.Errorf("%s comes from the repository tagged %q, which nothing pinned", s.Package, s.Source.Tag)
		}
	}
	return nil
}

// tagWanted reports whether some world entry names the tag of s's
// repository (packages of a tagged repository need a pinned requirer
// somewhere up their chain; the world is where pins start).
func tagWanted(world []string, _ []Selected, s Selected) bool {
	for _, w := range world {
		if strings.Contains(w, "@"+s.Source.Tag) {
			return true
		}
	}
	return s.InstalledSize == 0
}

// dedupeWorld keeps the last entry for each name, as apk add does.
func dedupeWorld(world []string) []string {
	var out []string
	idx := map[string]int{}
	for _, w := range world {
		d, err := ParseDependency(w)
		if err != nil {
			continue
		}
		if i, ok := idx[d.Name]; ok {
			out[i] = w
			continue
		}
		idx[d.Name] = len(out)
		out = append(out, w)
	}
	return out
}
