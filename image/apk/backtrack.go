package apk

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// The backtracking search runs where apk-tools' solver gives up. It is
// complete (within the search limit): requirements are taken in breadth
// first order; at each requirement no chosen provider satisfies yet, the
// providers are tried in apk-tools' order of preference, and a provider
// whose consequences conflict is undone and the next one tried. The first
// solution it finds is therefore the one preferred choice by choice.
// The rules are apk-tools': each name has one provider, except that
// unversioned provides may be shared; "!name" excludes the providers it
// matches; a package from a tagged repository needs a requirer pinned to
// that tag; install_if packages come in once all they name is in, unless
// their own dependencies cannot be met.

type btItem struct {
	d      *dep
	parent int32  // requiring package; -1 the world; -2 install_if
	pin    uint32 // repository tags allowed (apk-tools' pinning_allowed)
	pref   uint32 // tags preferred: the world entry's own tag
}

type backtracker struct {
	r         *Resolver
	o         resolveOptions
	assign    []provider // per name
	assigned  []bool
	declined  []bool // install_if names whose candidates all failed
	selected  []bool
	parent    []int32
	agenda    []btItem
	conflicts []int // agenda indices of conflict items in force
	trail     []trailEntry
	order     []int32
	iifPkgs   []int32
	iifDeps   []dep
	steps     int
	first     *UnsatisfiableError
	limitHit  bool
}

type trailEntry struct {
	kind byte // 'n' name assigned, 'p' package selected, 'd' name declined
	id   int32
}

func (r *Resolver) backtrack(world []dep, o resolveOptions) ([]int32, *UnsatisfiableError) {
	b := &backtracker{
		r: r, o: o,
		assign:   make([]provider, len(r.names)),
		assigned: make([]bool, len(r.names)),
		declined: make([]bool, len(r.names)),
		selected: make([]bool, len(r.pkgs)),
		parent:   make([]int32, len(r.pkgs)),
	}
	for id := range r.pkgs {
		if len(r.pkgs[id].installIf) > 0 {
			b.iifPkgs = append(b.iifPkgs, int32(id))
		}
	}
	b.iifDeps = make([]dep, len(r.names))
	for i := range world {
		b.agenda = append(b.agenda, btItem{d: &world[i], parent: -1, pin: defaultPinningMask | 1<<world[i].tag, pref: 1 << world[i].tag})
	}
	if b.search(0) {
		return b.order, nil
	}
	e := b.first
	if e == nil {
		e = &UnsatisfiableError{Chain: []string{"world"}, Want: "", Reason: "no solution"}
	}
	if b.limitHit {
		e.Reason += fmt.Sprintf(" (and no other choice worked within the search limit of %d)", o.searchLimit)
	}
	return nil, e
}

func (b *backtracker) undo(mark int) {
	for len(b.trail) > mark {
		t := b.trail[len(b.trail)-1]
		b.trail = b.trail[:len(b.trail)-1]
		switch t.kind {
		case 'n':
			b.assigned[t.id] = false
		case 'p':
			b.selected[t.id] = false
			b.order = b.order[:len(b.order)-1]
		case 'd':
			b.declined[t.id] = false
		}
	}
}

func (b *backtracker) satisfied(d *dep) bool {
	if !b.assigned[d.name] {
		return d.conflict
	}
	return b.r.isProvided(d, b.assign[d.name])
}

func (b *backtracker) chain(parent int32) []string {
	var rev []string
	for parent >= 0 {
		rev = append(rev, b.r.pkgString(parent))
		parent = b.parent[parent]
	}
	if parent == -2 {
		rev = append(rev, "install_if")
	} else {
		rev = append(rev, "world")
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

func (b *backtracker) fail(it btItem, reason string) {
	if b.first == nil {
		b.first = &UnsatisfiableError{Chain: b.chain(it.parent), Want: it.d.text, Reason: reason}
	}
}

func (b *backtracker) search(pos int) bool {
	r := b.r
	for pos < len(b.agenda) {
		it := b.agenda[pos]
		if it.d.conflict {
			if !b.satisfied(it.d) {
				b.fail(it, r.pkgString(b.assign[it.d.name].pkg)+" is installed (wanted by the rest of the world)")
				return false
			}
			b.conflicts = append(b.conflicts, pos)
			ok := b.search(pos + 1)
			b.conflicts = b.conflicts[:len(b.conflicts)-1]
			return ok
		}
		if b.satisfied(it.d) {
			pos++
			continue
		}
		if b.assigned[it.d.name] {
			b.fail(it, fmt.Sprintf("%s is already chosen, and does not satisfy it", b.providerString(b.assign[it.d.name])))
			return false
		}
		cands, why := b.candidates(it)
		if len(cands) == 0 {
			b.fail(it, why)
			return false
		}
		for _, c := range cands {
			if b.steps >= b.o.searchLimit {
				b.limitHit = true
				return false
			}
			b.steps++
			mark, alen := len(b.trail), len(b.agenda)
			b.selectPkg(c, it)
			if b.search(pos + 1) {
				return true
			}
			b.undo(mark)
			b.agenda = b.agenda[:alen]
		}
		return false
	}
	return b.installIf(pos)
}

// installIf brings in the first install_if package whose conditions hold,
// or declines it when none of its versions can be installed.
func (b *backtracker) installIf(pos int) bool {
	r := b.r
	for _, id := range b.iifPkgs {
		pk := &r.pkgs[id]
		if b.selected[id] || b.assigned[pk.name] || b.declined[pk.name] || !b.triggered(id) {
			continue
		}
		n := pk.name
		d := &b.iifDeps[n]
		*d = dep{name: n, op: apkversion.OpAny, text: r.names[n].name}
		it := btItem{d: d, parent: -2, pin: defaultPinningMask}
		var cands []int32
		for _, p := range r.names[n].providers {
			if r.pkgs[p.pkg].name == n && !p.null && b.triggered(p.pkg) {
				if ok, _ := b.allowed(p.pkg, p, it); ok {
					cands = append(cands, p.pkg)
				}
			}
		}
		b.sortCandidates(cands, it)
		for _, c := range cands {
			if b.steps >= b.o.searchLimit {
				b.limitHit = true
				return false
			}
			b.steps++
			mark, alen := len(b.trail), len(b.agenda)
			b.selectPkg(c, it)
			if b.search(pos) {
				return true
			}
			b.undo(mark)
			b.agenda = b.agenda[:alen]
		}
		mark := len(b.trail)
		b.declined[n] = true
		b.trail = append(b.trail, trailEntry{'d', n})
		if b.search(pos) {
			return true
		}
		b.undo(mark)
		return false
	}
	return true
}

func (b *backtracker) triggered(id int32) bool {
	for i := range b.r.pkgs[id].installIf {
		d := &b.r.pkgs[id].installIf[i]
		if !b.assigned[d.name] || !b.r.isProvided(d, b.assign[d.name]) {
			return false
		}
	}
	return len(b.r.pkgs[id].installIf) > 0
}

func (b *backtracker) providerString(p provider) string {
	if p.pkg < 0 {
		return "nothing"
	}
	return b.r.pkgString(p.pkg)
}

// allowed reports whether package id may be selected for item it through
// provider p, and if not, why.
func (b *backtracker) allowed(id int32, p provider, it btItem) (bool, string) {
	r := b.r
	pk := &r.pkgs[id]
	if b.selected[id] {
		return false, pk.p.String() + " is already chosen"
	}
	if !b.tagOK(id, it.pin) {
		if it.d.tag != 0 {
			return false, fmt.Sprintf("no provider in a repository tagged %q", r.tags[it.d.tag])
		}
		return false, "providers only in tagged repositories (pin with name@tag)"
	}
	if !r.isProvided(it.d, p) {
		return false, fmt.Sprintf("no version matches (%s has %s)", pk.p.Name, or(p.version, "an unversioned provides"))
	}
	if p.null && pk.p.ProviderPriority == 0 && pk.name != it.d.name {
		return false, fmt.Sprintf("%s provides it without a version and without provider_priority, and apk-tools does not choose such a provider by itself: name %s (or another provider) in the world", pk.p, pk.p.Name)
	}
	if b.assigned[pk.name] {
		return false, fmt.Sprintf("%s is already chosen", b.providerString(b.assign[pk.name]))
	}
	for _, pv := range pk.provides {
		if b.assigned[pv.name] && !(pv.op == apkversion.OpAny && b.assign[pv.name].null) {
			return false, fmt.Sprintf("%s also provides %s, which %s already provides", pk.p, r.names[pv.name].name, b.providerString(b.assign[pv.name]))
		}
	}
	for _, ci := range b.conflicts {
		c := b.agenda[ci]
		for _, np := range b.namesOf(id) {
			if np.name == c.d.name && !r.isProvided(c.d, np.prov) {
				return false, fmt.Sprintf("%s conflicts with %s (from %s)", pk.p, c.d.text, strings.Join(b.chain(c.parent), " → "))
			}
		}
	}
	for i := range pk.depends {
		d := &pk.depends[i]
		if d.conflict && b.assigned[d.name] && !r.isProvided(d, b.assign[d.name]) {
			return false, fmt.Sprintf("%s conflicts with %s, which is chosen", pk.p, b.providerString(b.assign[d.name]))
		}
	}
	return true, ""
}

type nameProv struct {
	name int32
	prov provider
}

func (b *backtracker) namesOf(id int32) []nameProv {
	pk := &b.r.pkgs[id]
	out := []nameProv{{pk.name, provider{pkg: id, version: pk.p.Version}}}
	for _, pv := range pk.provides {
		out = append(out, nameProv{pv.name, provider{pkg: id, version: pv.version, null: pv.op == apkversion.OpAny}})
	}
	return out
}

// tagOK is apk-tools' tag_ok: the package is in a repository the pinning
// allows, installed, or a virtual (installed size 0).
func (b *backtracker) tagOK(id int32, pin uint32) bool {
	pk := &b.r.pkgs[id]
	return pk.installed || pk.p.InstalledSize == 0 || pk.repos&b.r.pinningMaskRepos(pin) != 0
}

func (b *backtracker) candidates(it btItem) ([]int32, string) {
	r := b.r
	provs := r.names[it.d.name].providers
	if len(provs) == 0 {
		return nil, "no package is or provides " + r.names[it.d.name].name
	}
	var out []int32
	why := ""
	for _, p := range provs {
		ok, reason := b.allowed(p.pkg, p, it)
		if ok {
			out = append(out, p.pkg)
		} else if why == "" || strings.HasPrefix(why, "providers only") {
			why = reason
		}
	}
	b.sortCandidates(out, it)
	return out, why
}

// sortCandidates orders candidates by apk-tools' compare_providers, as far
// as it depends on the packages rather than on the solver's state.
func (b *backtracker) sortCandidates(c []int32, it btItem) {
	r := b.r
	provOf := func(id int32) provider {
		for _, np := range b.namesOf(id) {
			if np.name == it.d.name {
				return np.prov
			}
		}
		return provider{pkg: id, null: true}
	}
	prefRepos := r.pinningMaskRepos(defaultPinningMask)
	if it.parent == -1 {
		prefRepos = r.pinningMaskRepos(it.pref)
	}
	sort.SliceStable(c, func(i, j int) bool {
		a, bb := &r.pkgs[c[i]], &r.pkgs[c[j]]
		ta := a.p.InstalledSize == 0 || b.repos(c[i])&prefRepos != 0
		tb := bb.p.InstalledSize == 0 || b.repos(c[j])&prefRepos != 0
		if ta != tb {
			return ta
		}
		if !b.o.upgrade && a.installed != bb.installed {
			return a.installed
		}
		if v := versionCmp(provOf(c[i]), provOf(c[j])); v != 0 {
			return v > 0
		}
		if a.name == bb.name {
			if v := apkversion.Compare(a.p.Version, bb.p.Version); v != 0 {
				return v > 0
			}
		}
		if a.installed != bb.installed {
			return a.installed
		}
		if a.p.ProviderPriority != bb.p.ProviderPriority {
			return a.p.ProviderPriority > bb.p.ProviderPriority
		}
		return ffs(a.repos) < ffs(bb.repos)
	})
}

func (b *backtracker) repos(id int32) uint64 {
	pk := &b.r.pkgs[id]
	if pk.installed {
		return pk.repos | b.r.allowed[0]
	}
	return pk.repos
}

func (b *backtracker) selectPkg(id int32, it btItem) {
	pk := &b.r.pkgs[id]
	b.selected[id] = true
	b.parent[id] = it.parent
	b.order = append(b.order, id)
	b.trail = append(b.trail, trailEntry{'p', id})
	for _, np := range b.namesOf(id) {
		if b.assigned[np.name] {
			continue // a shared unversioned provides
		}
		b.assigned[np.name] = true
		b.assign[np.name] = np.prov
		b.trail = append(b.trail, trailEntry{'n', np.name})
	}
	pin := defaultPinningMask | it.pin
	for i := range pk.depends {
		b.agenda = append(b.agenda, btItem{d: &pk.depends[i], parent: id, pin: pin})
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
