package apk

import (
	"math/bits"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// This file follows apk-tools 2.14's solver (src/solver.c), function by
// function, so that the resolver makes apk-tools' choices: the same
// propagation, the same order of selecting names and the same comparison
// of providers. It is written from the algorithm, not translated code; the
// names of the functions are apk-tools' so the two can be read side by
// side.

// Solver flags (APK_SOLVERF_*).
const (
	solverUpgrade   uint16 = 0x0001
	solverAvailable uint16 = 0x0002
	solverReinstall uint16 = 0x0004
	solverLatest    uint16 = 0x0008
	solverInstalled uint16 = 0x0020
	solverRemove    uint16 = 0x0040
)

const defaultPinningMask uint32 = 1 // BIT(APK_DEFAULT_REPOSITORY_TAG)

type nameState struct {
	seen, noIif, locked                       bool
	reevaluateDeps, reevaluateIif             bool
	hasAutoSelectable, hasOptions, hasIif     bool
	reverseDepsDone, hasVirtualProvides       bool
	inChangeset, flagsSet                     bool
	chosen                                    provider
	requirers                                 int32
	orderID                                   int32
	mergeDepends, mergeProvides               uint16
	installedPkg, installedName               int32
	dirtyPrev, dirtyNext, unresPrev, unresNxt int32
	inDirty, inUnres                          bool
}

type pkgState struct {
	seen                                 bool
	pkgAvailable, pkgSelectable          bool
	iifFailed, iifTriggered              bool
	tagPreferred, tagOk                  bool
	dependenciesMerged, dependenciesUsed bool
	err, inChangeset                     bool
	pinningAllowed, pinningPreferred     uint32
	conflicts                            int32
	solverFlags, solverFlagsInheritable  uint16
}

type solverState struct {
	r              *Resolver
	ns             []nameState
	ps             []pkgState
	errors         int
	flagsInherit   uint16
	pinningInherit uint32
	defaultRepos   uint64
	orderID        int32
	dirtyHead      int32 // sentinel index len(ns)
	unresHead      int32 // sentinel index len(ns)+1
	changes        []int32
}

// solveAPK runs apk-tools' solver on world and returns the packages to
// install in apk-tools' changeset order, or false where apk-tools reports
// errors.
func (r *Resolver) solveAPK(world []dep, worldFlags uint16) ([]int32, bool) {
	n := len(r.names)
	ss := &solverState{
		r:  r,
		ns: make([]nameState, n+2),
		ps: make([]pkgState, len(r.pkgs)),
	}
	for i := range ss.ns {
		ss.ns[i].chosen = providerNone // C's zeroed state: no package
	}
	ss.dirtyHead, ss.unresHead = int32(n), int32(n+1)
	ss.ns[ss.dirtyHead].dirtyPrev, ss.ns[ss.dirtyHead].dirtyNext = ss.dirtyHead, ss.dirtyHead
	ss.ns[ss.unresHead].unresPrev, ss.ns[ss.unresHead].unresNxt = ss.unresHead, ss.unresHead
	ss.defaultRepos = r.pinningMaskRepos(defaultPinningMask)

	// apk add marks each world name (apk_solver_set_name_flags).
	for i := range world {
		d := &world[i]
		ss.ns[d.name].flagsSet = true
		for _, p := range r.names[d.name].providers {
			ss.ps[p.pkg].solverFlags |= worldFlags
			ss.ps[p.pkg].solverFlagsInheritable |= worldFlags
		}
	}

	for i := range world {
		ss.discoverName(world[i].name)
	}
	for i := range world {
		ss.pinningInherit = 1 << world[i].tag
		ss.applyConstraint(-1, &world[i])
	}
	ss.flagsInherit, ss.pinningInherit = 0, 0

	for {
		for ss.ns[ss.dirtyHead].dirtyNext != ss.dirtyHead {
			name := ss.ns[ss.dirtyHead].dirtyNext
			ss.dirtyDel(name)
			ss.reconsiderName(name)
		}
		name := int32(-1)
		for n0 := ss.ns[ss.unresHead].unresNxt; n0 != ss.unresHead; n0 = ss.ns[n0].unresNxt {
			s0 := &ss.ns[n0]
			if s0.reverseDepsDone && s0.requirers > 0 && s0.hasAutoSelectable && !s0.hasOptions {
				name = n0
				break
			}
			if name < 0 || ss.compareNameDequeue(n0, name) < 0 {
				name = n0
			}
		}
		if name < 0 {
			break
		}
		ss.selectPackage(name)
	}
	ss.generateChangeset(world)
	return ss.changes, ss.errors == 0
}

func (r *Resolver) pinningMaskRepos(mask uint32) uint64 {
	var repos uint64
	for i := range r.tags {
		if mask&(1<<i) != 0 {
			repos |= r.allowed[i]
		}
	}
	return repos
}

// pkgRepos is get_pkg_repos: installed packages count as in the default
// tag's repositories.
func (ss *solverState) pkgRepos(id int32) uint64 {
	p := &ss.r.pkgs[id]
	if p.installed {
		return p.repos | ss.r.allowed[0]
	}
	return p.repos
}

// The dirty and unresolved lists are apk-tools' intrusive lists.

func (ss *solverState) dirtyAddTail(n int32) {
	h := ss.dirtyHead
	last := ss.ns[h].dirtyPrev
	ss.ns[n].dirtyPrev, ss.ns[n].dirtyNext = last, h
	ss.ns[last].dirtyNext = n
	ss.ns[h].dirtyPrev = n
	ss.ns[n].inDirty = true
}

func (ss *solverState) dirtyDel(n int32) {
	s := &ss.ns[n]
	ss.ns[s.dirtyPrev].dirtyNext = s.dirtyNext
	ss.ns[s.dirtyNext].dirtyPrev = s.dirtyPrev
	s.inDirty = false
}

func (ss *solverState) unresAdd(n int32) {
	h := ss.unresHead
	first := ss.ns[h].unresNxt
	ss.ns[n].unresPrev, ss.ns[n].unresNxt = h, first
	ss.ns[first].unresPrev = n
	ss.ns[h].unresNxt = n
	ss.ns[n].inUnres = true
}

func (ss *solverState) unresDel(n int32) {
	s := &ss.ns[n]
	ss.ns[s.unresPrev].unresNxt = s.unresNxt
	ss.ns[s.unresNxt].unresPrev = s.unresPrev
	s.inUnres = false
}

func (ss *solverState) markError(pkg int32) {
	if pkg < 0 || ss.ps[pkg].err {
		return
	}
	ss.ps[pkg].err = true
	ss.errors++
}

func (ss *solverState) queueDirty(n int32) {
	s := &ss.ns[n]
	if s.inDirty || s.locked || (s.requirers == 0 && !s.reevaluateIif) {
		return
	}
	ss.dirtyAddTail(n)
}

func (ss *solverState) queueUnresolved(n int32) {
	s := &ss.ns[n]
	if s.locked {
		return
	}
	want := s.requirers > 0 || s.hasIif
	if want && !s.inUnres {
		ss.unresAdd(n)
	} else if !want && s.inUnres {
		ss.unresDel(n)
	}
}

func (ss *solverState) reevaluateReverseDeps(n int32) {
	for _, n0 := range ss.r.names[n].rdepends {
		if !ss.ns[n0].seen {
			continue
		}
		ss.ns[n0].reevaluateDeps = true
		ss.queueDirty(n0)
	}
}

func (ss *solverState) reevaluateReverseInstallIf(n int32) {
	for _, n0 := range ss.r.names[n].rinstallIf {
		s0 := &ss.ns[n0]
		if !s0.seen || s0.noIif {
			continue
		}
		s0.reevaluateIif = true
		ss.queueDirty(n0)
	}
}

func (ss *solverState) reevaluateReverseInstallIfPkg(pkg int32) {
	p := &ss.r.pkgs[pkg]
	ss.reevaluateReverseInstallIf(p.name)
	for _, d := range p.provides {
		ss.reevaluateReverseInstallIf(d.name)
	}
}

func (ss *solverState) disqualifyPackage(pkg int32) {
	p := &ss.r.pkgs[pkg]
	ss.ps[pkg].pkgSelectable = false
	ss.reevaluateReverseDeps(p.name)
	for _, d := range p.provides {
		ss.reevaluateReverseDeps(d.name)
	}
	ss.reevaluateReverseInstallIfPkg(pkg)
}

func (ss *solverState) dependencySatisfiable(d *dep) bool {
	s := &ss.ns[d.name]
	if s.locked {
		return ss.r.isProvided(d, s.chosen)
	}
	if s.requirers == 0 && ss.r.isProvided(d, providerNone) {
		return true
	}
	for _, p := range ss.r.names[d.name].providers {
		if ss.ps[p.pkg].pkgSelectable && ss.r.isProvided(d, p) {
			return true
		}
	}
	return false
}

func (ss *solverState) discoverName(n int32) {
	s := &ss.ns[n]
	if s.seen {
		return
	}
	r := ss.r
	s.seen = true
	s.noIif = true
	for _, p := range r.names[n].providers {
		ps := &ss.ps[p.pkg]
		pk := &r.pkgs[p.pkg]
		if !ps.seen {
			ps.seen = true
			ps.pinningAllowed = defaultPinningMask
			ps.pinningPreferred = defaultPinningMask
			ps.pkgAvailable = pk.repos != 0
			ps.pkgSelectable = pk.repos != 0 || pk.p.InstalledSize == 0 || pk.installed
			ps.iifFailed = len(pk.installIf) == 0
			repos := ss.pkgRepos(p.pkg)
			ps.tagPreferred = pk.p.InstalledSize == 0 || repos&ss.defaultRepos != 0
			ps.tagOk = ps.tagPreferred || pk.installed
			for i := range pk.depends {
				ss.discoverName(pk.depends[i].name)
			}
		}
		ss.ns[n].noIif = ss.ns[n].noIif && ss.ps[p.pkg].iifFailed
	}
	for _, p := range r.names[n].providers {
		pk := &r.pkgs[p.pkg]
		for _, n0 := range r.names[pk.name].rinstallIf {
			ss.discoverName(n0)
		}
		for _, d := range pk.provides {
			if ss.ns[d.name].seen {
				continue
			}
			ss.discoverName(d.name)
			for _, n0 := range r.names[d.name].rinstallIf {
				ss.discoverName(n0)
			}
		}
	}
	ss.orderID++
	ss.ns[n].orderID = ss.orderID
}

func (ss *solverState) nameRequirersChanged(n int32) {
	ss.queueUnresolved(n)
	ss.reevaluateReverseInstallIf(n)
	ss.queueDirty(n)
}

func (ss *solverState) inheritPinningAndFlags(pkg, ppkg int32) {
	ps := &ss.ps[pkg]
	repos := ss.pkgRepos(pkg)
	if ppkg >= 0 {
		pp := &ss.ps[ppkg]
		ps.solverFlags |= pp.solverFlagsInheritable
		ps.solverFlagsInheritable |= pp.solverFlagsInheritable
		ps.pinningAllowed |= pp.pinningAllowed
	} else {
		ps.solverFlags |= ss.flagsInherit
		ps.solverFlagsInheritable |= ss.flagsInherit
		ps.pinningAllowed |= ss.pinningInherit
		ps.pinningPreferred = ss.pinningInherit
		ps.tagPreferred = repos&ss.r.pinningMaskRepos(ps.pinningPreferred) != 0
	}
	if repos&ss.r.pinningMaskRepos(ps.pinningAllowed) != 0 {
		ps.tagOk = true
	}
}

func (ss *solverState) applyConstraint(ppkg int32, d *dep) {
	s := &ss.ns[d.name]
	if !d.conflict {
		s.requirers++
		if s.requirers == 1 {
			ss.nameRequirersChanged(d.name)
		}
	}
	for _, p0 := range ss.r.names[d.name].providers {
		provided := ss.r.isProvided(d, p0)
		ps := &ss.ps[p0.pkg]
		if !provided {
			ps.conflicts++
		}
		if ps.pkgSelectable && ps.conflicts > 0 {
			ss.disqualifyPackage(p0.pkg)
		}
		if provided {
			ss.inheritPinningAndFlags(p0.pkg, ppkg)
		}
	}
}

func (ss *solverState) excludeNonProviders(n, mustProvide int32, skipVirtuals bool) {
	if n == mustProvide {
		return
	}
	for _, p := range ss.r.names[n].providers {
		pk := &ss.r.pkgs[p.pkg]
		if pk.name == mustProvide || !ss.ps[p.pkg].pkgSelectable || (skipVirtuals && p.null) {
			continue
		}
		keep := false
		for _, d := range pk.provides {
			if d.name == mustProvide || (skipVirtuals && d.op == apkversion.OpAny) {
				keep = true
				break
			}
		}
		if !keep {
			ss.disqualifyPackage(p.pkg)
		}
	}
}

func mergeIndex(index *uint16, numOptions int) bool {
	if int(*index) != numOptions {
		return false
	}
	*index = uint16(numOptions + 1)
	return true
}

func mergeIndexComplete(index *uint16, numOptions int) bool {
	ret := int(*index) == numOptions
	*index = 0
	return ret
}

func (ss *solverState) isProviderAutoSelectable(p provider) bool {
	if !p.null {
		return true
	}
	pk := &ss.r.pkgs[p.pkg]
	return pk.p.ProviderPriority != 0 || ss.ns[pk.name].requirers > 0
}

func (ss *solverState) reconsiderName(n int32) {
	r := ss.r
	s := &ss.ns[n]
	reevaluateDeps, reevaluateIif := s.reevaluateDeps, s.reevaluateIif
	s.reevaluateDeps, s.reevaluateIif = false, false
	s.hasAutoSelectable = false
	firstCandidate := int32(-1)
	numOptions, numTagNotOk := 0, 0
	hasIif, noIif := false, true

	for _, p := range r.names[n].providers {
		pkg := p.pkg
		ps := &ss.ps[pkg]
		pk := &r.pkgs[pkg]
		ps.dependenciesMerged = false
		if reevaluateDeps {
			if !ps.pkgSelectable {
				continue
			}
			for i := range pk.depends {
				if !ss.dependencySatisfiable(&pk.depends[i]) {
					ss.disqualifyPackage(pkg)
					break
				}
			}
		}
		if !ps.pkgSelectable {
			continue
		}
		if reevaluateIif && !ps.iifTriggered && !ps.iifFailed {
			ps.iifTriggered, ps.iifFailed = true, false
			for i := range pk.installIf {
				d := &pk.installIf[i]
				dn := &ss.ns[d.name]
				if !dn.locked {
					ps.iifTriggered, ps.iifFailed = false, false
					break
				}
				if !r.isProvided(d, dn.chosen) {
					ps.iifTriggered, ps.iifFailed = false, true
					break
				}
			}
		}
		if reevaluateIif && ps.iifTriggered {
			for i := range pk.installIf {
				ss.inheritPinningAndFlags(pkg, ss.ns[pk.installIf[i].name].chosen.pkg)
			}
		}
		hasIif = hasIif || ps.iifTriggered
		noIif = noIif && ps.iifFailed
		if ps.iifTriggered {
			s.hasAutoSelectable = true
		}
		if s.requirers == 0 {
			continue
		}
		ps.dependenciesMerged = true
		if firstCandidate < 0 {
			firstCandidate = pkg
		}
		for i := range pk.depends {
			if !pk.depends[i].conflict {
				mergeIndex(&ss.ns[pk.depends[i].name].mergeDepends, numOptions)
			}
		}
		if mergeIndex(&ss.ns[pk.name].mergeProvides, numOptions) && p.null {
			ss.ns[pk.name].hasVirtualProvides = true
		}
		for _, d := range pk.provides {
			if mergeIndex(&ss.ns[d.name].mergeProvides, numOptions) && d.op == apkversion.OpAny {
				ss.ns[d.name].hasVirtualProvides = true
			}
		}
		if !ps.tagOk {
			numTagNotOk++
		}
		numOptions++
		if !s.hasAutoSelectable && ss.isProviderAutoSelectable(p) {
			s.hasAutoSelectable = true
		}
	}
	s.hasOptions = numOptions > 1 || numTagNotOk > 0
	s.hasIif = hasIif
	s.noIif = noIif
	ss.queueUnresolved(n)

	if firstCandidate >= 0 {
		pkg := firstCandidate
		pk := &r.pkgs[pkg]
		for _, p := range r.names[n].providers {
			ss.ps[p.pkg].dependenciesUsed = ss.ps[p.pkg].dependenciesMerged
		}
		if numOptions == 1 {
			for i := range pk.depends {
				d := &pk.depends[i]
				if mergeIndexComplete(&ss.ns[d.name].mergeDepends, numOptions) {
					ss.applyConstraint(pkg, d)
				}
			}
		} else {
			for i := range pk.depends {
				n0 := pk.depends[i].name
				if mergeIndexComplete(&ss.ns[n0].mergeDepends, numOptions) && ss.ns[n0].requirers == 0 {
					ss.ns[n0].requirers++
					ss.nameRequirersChanged(n0)
					for _, p := range r.names[n0].providers {
						ss.inheritPinningAndFlags(p.pkg, pkg)
					}
				}
			}
		}
		if mergeIndexComplete(&ss.ns[pk.name].mergeProvides, numOptions) {
			ss.excludeNonProviders(pk.name, n, ss.ns[pk.name].hasVirtualProvides)
		}
		for _, d := range pk.provides {
			if mergeIndexComplete(&ss.ns[d.name].mergeProvides, numOptions) {
				ss.excludeNonProviders(d.name, n, ss.ns[d.name].hasVirtualProvides)
			}
		}
		ss.ns[pk.name].hasVirtualProvides = false
		for _, d := range pk.provides {
			ss.ns[d.name].hasVirtualProvides = false
		}
	}

	s.reverseDepsDone = true
	for _, n0 := range r.names[n].rdepends {
		if ss.ns[n0].seen && !ss.ns[n0].locked {
			s.reverseDepsDone = false
			break
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// versionCmp compares provided versions as apk_version_compare_blob: a
// null (unversioned) side compares equal to anything.
func versionCmp(a, b provider) int {
	if a.null || b.null {
		return 0
	}
	return apkversion.Compare(a.version, b.version)
}

// compareProviders returns > 0 when a is preferred over b.
func (ss *solverState) compareProviders(a, b provider) int {
	if a.pkg < 0 || b.pkg < 0 {
		return b2i(a.pkg >= 0) - b2i(b.pkg >= 0)
	}
	pa, pb := &ss.ps[a.pkg], &ss.ps[b.pkg]
	ka, kb := &ss.r.pkgs[a.pkg], &ss.r.pkgs[b.pkg]
	flags := pa.solverFlags | pb.solverFlags
	if flags&solverRemove != 0 {
		if r := b2i(pb.solverFlags&solverRemove != 0) - b2i(pa.solverFlags&solverRemove != 0); r != 0 {
			return r
		}
	}
	if flags&solverLatest != 0 && pa.pinningAllowed == defaultPinningMask && pb.pinningAllowed == defaultPinningMask {
		if r := b2i(pa.tagOk) - b2i(pb.tagOk); r != 0 {
			return r
		}
		if flags&solverAvailable != 0 {
			if r := b2i(pa.pkgAvailable) - b2i(pb.pkgAvailable); r != 0 {
				return r
			}
		} else if flags&solverReinstall != 0 {
			if r := b2i(pa.pkgSelectable) - b2i(pb.pkgSelectable); r != 0 {
				return r
			}
		}
	} else {
		if r := b2i(pa.pkgSelectable) - b2i(pb.pkgSelectable); r != 0 {
			return r
		}
		if r := b2i(pa.dependenciesUsed) - b2i(pb.dependenciesUsed); r != 0 {
			return r
		}
		if r := int(pb.conflicts) - int(pa.conflicts); r != 0 {
			return r
		}
		if flags&solverInstalled != 0 {
			if r := b2i(ka.installed) - b2i(kb.installed); r != 0 {
				return r
			}
		}
		if r := b2i(pa.tagOk) - b2i(pb.tagOk); r != 0 {
			return r
		}
		if flags&solverAvailable != 0 {
			if r := b2i(pa.pkgAvailable) - b2i(pb.pkgAvailable); r != 0 {
				return r
			}
		}
		if r := b2i(pa.tagPreferred) - b2i(pb.tagPreferred); r != 0 {
			return r
		}
		if flags&solverUpgrade == 0 {
			if r := b2i(ka.installed) - b2i(kb.installed); r != 0 {
				return r
			}
		}
	}
	if c := versionCmp(a, b); c != 0 {
		return c
	}
	if ka.name == kb.name {
		if c := apkversion.Compare(ka.p.Version, kb.p.Version); c != 0 {
			return c
		}
	}
	if r := b2i(ka.installed) - b2i(kb.installed); r != 0 {
		return r
	}
	if ka.p.ProviderPriority != kb.p.ProviderPriority {
		if ka.p.ProviderPriority > kb.p.ProviderPriority {
			return 1
		}
		return -1
	}
	if r := b2i(pa.pkgSelectable) - b2i(pb.pkgSelectable); r != 0 {
		return r
	}
	return ffs(kb.repos) - ffs(ka.repos)
}

// ffs is C's ffs: the 1-based index of the lowest set bit, 0 for none.
func ffs(x uint64) int {
	if x == 0 {
		return 0
	}
	return bits.TrailingZeros64(x) + 1
}

func (ss *solverState) assignName(n int32, p provider) {
	s := &ss.ns[n]
	if s.locked {
		if p.null && s.chosen.null {
			return
		}
		ss.markError(p.pkg)
		ss.markError(s.chosen.pkg)
		return
	}
	s.locked = true
	s.chosen = p
	if s.inUnres {
		ss.unresDel(n)
	}
	if s.inDirty {
		ss.dirtyDel(n)
	}
	for _, p0 := range ss.r.names[n].providers {
		if p0.pkg == p.pkg || (p.null && p0.null) {
			continue
		}
		ss.disqualifyPackage(p0.pkg)
	}
	ss.reevaluateReverseDeps(n)
	if p.pkg >= 0 {
		ss.reevaluateReverseInstallIfPkg(p.pkg)
	} else {
		ss.reevaluateReverseInstallIf(n)
	}
}

func (ss *solverState) selectPackage(n int32) {
	s := &ss.ns[n]
	chosen := providerNone
	if s.requirers > 0 || s.hasIif {
		for _, p := range ss.r.names[n].providers {
			ps := &ss.ps[p.pkg]
			if s.requirers == 0 && (!ps.iifTriggered || !ps.tagOk || !ps.pkgSelectable) {
				continue
			}
			if !ss.isProviderAutoSelectable(p) {
				continue
			}
			if ss.compareProviders(p, chosen) > 0 {
				chosen = p
			}
		}
	}
	if chosen.pkg >= 0 {
		pkg := chosen.pkg
		ps := &ss.ps[pkg]
		pk := &ss.r.pkgs[pkg]
		if !ps.pkgSelectable || !ps.tagOk {
			ss.markError(pkg)
		}
		ss.assignName(pk.name, provider{pkg: pkg, version: pk.p.Version})
		for _, d := range pk.provides {
			ss.assignName(d.name, provider{pkg: pkg, version: d.version, null: d.op == apkversion.OpAny})
		}
		for i := range pk.depends {
			ss.applyConstraint(pkg, &pk.depends[i])
		}
	} else {
		ss.assignName(n, providerNone)
		if s.requirers > 0 {
			ss.errors++
		}
	}
}

func (ss *solverState) compareNameDequeue(a, b int32) int {
	sa, sb := &ss.ns[a], &ss.ns[b]
	if r := b2i(sb.hasAutoSelectable) - b2i(sa.hasAutoSelectable); r != 0 {
		return r
	}
	if r := b2i(sa.flagsSet) - b2i(sb.flagsSet); r != 0 {
		return -r
	}
	return int(sb.orderID - sa.orderID)
}

// The changeset: apk-tools walks the world's dependencies from the chosen
// providers and records each package to install (and each installed one
// to remove). The resolver keeps the installs, in apk-tools' order.

func (ss *solverState) recordChange(npkg int32) {
	if npkg >= 0 {
		ss.changes = append(ss.changes, npkg)
	}
}

func (ss *solverState) csetTrackDepsAdded(pkg int32) {
	for _, d := range ss.r.pkgs[pkg].depends {
		if d.conflict || ss.ns[d.name].installedName < 0 {
			continue
		}
		ss.ns[ss.ns[d.name].installedName].requirers++
	}
}

func (ss *solverState) csetTrackDepsRemoved(pkg int32) {
	for _, d := range ss.r.pkgs[pkg].depends {
		in := ss.ns[d.name].installedName
		if d.conflict || in < 0 {
			continue
		}
		ss.ns[in].requirers--
		if ss.ns[in].requirers > 0 {
			continue
		}
		if p0 := ss.ns[d.name].installedPkg; p0 >= 0 {
			ss.csetGenNameRemove(p0)
		}
	}
}

func (ss *solverState) csetCheckRemovalByDeps(pkg int32) {
	n := ss.r.pkgs[pkg].name
	if ss.ns[n].requirers == 0 && ss.ns[n].chosen.pkg < 0 {
		ss.csetGenNameRemove(pkg)
	}
}

func (ss *solverState) csetCheckInstallByIif(n int32) {
	s := &ss.ns[n]
	pkg := s.chosen.pkg
	if pkg < 0 || !s.seen || s.inChangeset {
		return
	}
	for i := range ss.r.pkgs[pkg].installIf {
		d := &ss.r.pkgs[pkg].installIf[i]
		if !ss.ns[d.name].inChangeset || !ss.r.isProvided(d, ss.ns[d.name].chosen) {
			return
		}
	}
	ss.csetGenNameChange(n)
}

func (ss *solverState) csetCheckRemovalByIif(n int32) {
	s := &ss.ns[n]
	pkg := s.installedPkg
	if pkg < 0 || s.inChangeset || s.chosen.pkg >= 0 {
		return
	}
	for _, d := range ss.r.pkgs[pkg].installIf {
		if ss.ns[d.name].inChangeset && ss.ns[d.name].chosen.pkg < 0 {
			ss.csetCheckRemovalByDeps(pkg)
			return
		}
	}
}

func (ss *solverState) csetCheckByReverseIif(pkg int32, cb func(int32)) {
	if pkg < 0 {
		return
	}
	pk := &ss.r.pkgs[pkg]
	for _, n := range ss.r.names[pk.name].rinstallIf {
		cb(n)
	}
	for _, d := range pk.provides {
		for _, n := range ss.r.names[d.name].rinstallIf {
			cb(n)
		}
	}
}

func (ss *solverState) csetGenNameRemoveOrphan(n int32) {
	s := &ss.ns[n]
	if s.inChangeset {
		return
	}
	s.inChangeset = true
	if s.installedPkg >= 0 && (s.chosen.pkg < 0 || ss.r.pkgs[s.chosen.pkg].name != n) {
		ss.csetGenNameRemove(s.installedPkg)
	}
	for _, p := range ss.r.names[n].providers {
		n0 := ss.r.pkgs[p.pkg].name
		if ss.ns[n0].installedPkg == p.pkg && ss.ns[n0].chosen.pkg < 0 {
			ss.csetGenNameRemove(p.pkg)
		}
	}
}

func (ss *solverState) csetGenNameChange(n int32) {
	if ss.ns[n].inChangeset {
		return
	}
	ss.csetGenNameRemoveOrphan(n)
	pkg := ss.ns[n].chosen.pkg
	if pkg < 0 || ss.ps[pkg].inChangeset {
		return
	}
	ss.ps[pkg].inChangeset = true
	pk := &ss.r.pkgs[pkg]
	ss.csetGenNameRemoveOrphan(pk.name)
	for _, d := range pk.provides {
		ss.csetGenNameRemoveOrphan(d.name)
	}
	opkg := ss.ns[pk.name].installedPkg
	ss.csetCheckByReverseIif(opkg, ss.csetCheckRemovalByIif)
	for i := range pk.depends {
		ss.csetGenDep(pkg, &pk.depends[i])
	}
	ss.recordChange(pkg)
	ss.csetCheckByReverseIif(pkg, ss.csetCheckInstallByIif)
	ss.csetTrackDepsAdded(pkg)
	if opkg >= 0 {
		ss.csetTrackDepsRemoved(opkg)
	}
}

// csetGenNameRemove records the removal of an installed package nothing
// chose. Removals do not change the set the resolver returns; apk-tools
// also removes the installed packages that depend on it, which the
// resolver leaves out for the same reason.
func (ss *solverState) csetGenNameRemove(pkg int32) {
	n := ss.r.pkgs[pkg].name
	s := &ss.ns[n]
	if ss.ps[pkg].inChangeset || (s.chosen.pkg >= 0 && ss.r.pkgs[s.chosen.pkg].name == n) {
		return
	}
	s.inChangeset = true
	ss.ps[pkg].inChangeset = true
	ss.csetCheckByReverseIif(pkg, ss.csetCheckRemovalByIif)
	ss.csetTrackDepsRemoved(pkg)
}

func (ss *solverState) csetGenDep(ppkg int32, d *dep) {
	s := &ss.ns[d.name]
	pkg := s.chosen.pkg
	if !ss.r.isProvided(d, s.chosen) {
		ss.markError(ppkg)
		if ppkg < 0 {
			ss.errors++ // a world dependency nothing fulfils
		}
	}
	ss.csetGenNameChange(d.name)
	if pkg >= 0 && ss.ps[pkg].err {
		ss.markError(ppkg)
	}
}

func (ss *solverState) generateChangeset(world []dep) {
	for n := range ss.r.names {
		ss.ns[n].installedPkg, ss.ns[n].installedName, ss.ns[n].requirers = -1, -1, 0
	}
	for id := range ss.r.pkgs {
		pk := &ss.r.pkgs[id]
		if !pk.installed {
			continue
		}
		ss.ns[pk.name].installedPkg = int32(id)
		ss.ns[pk.name].installedName = pk.name
		for _, d := range pk.provides {
			if d.op != apkversion.OpAny {
				ss.ns[d.name].installedName = pk.name
			}
		}
	}
	for id := range ss.r.pkgs {
		if ss.r.pkgs[id].installed {
			ss.csetTrackDepsAdded(int32(id))
		}
	}
	for id := range ss.r.pkgs {
		if ss.r.pkgs[id].installed {
			ss.csetCheckRemovalByDeps(int32(id))
		}
	}
	for i := range world {
		ss.csetGenDep(-1, &world[i])
	}
	for id := range ss.r.pkgs {
		if ss.r.pkgs[id].installed {
			ss.csetGenNameChange(ss.r.pkgs[id].name)
		}
	}
}
