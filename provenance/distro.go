package provenance

import (
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// Distribution is the operating-system distribution of an image, named as
// its /etc/os-release names it and as scanners (syft, grype, trivy) match
// vulnerabilities against it.
type Distribution struct {
	// ID is the os-release ID: the repository family, "wolfi",
	// "chainguard" or "alpine". Empty when the lock names no known family.
	ID string
	// VersionID is the os-release VERSION_ID, "" when the lock does not
	// say (see [LockDistribution]).
	VersionID string
}

// releasePackages name, per family, the package that ships the family's
// os-release; its version without the -rN suffix is the VERSION_ID the
// file carries (alpine-release 3.20.3-r0 ships VERSION_ID=3.20.3).
var releasePackages = map[vm.RepositoryFamily]string{
	vm.Wolfi:      "wolfi-baselayout",
	vm.Chainguard: "chainguard-baselayout",
	vm.Alpine:     "alpine-release",
}

// LockDistribution returns the distribution of the image a lock builds:
// the lock's repository family as ID and, when the lock holds the package
// that ships the family's os-release (alpine-release, wolfi-baselayout,
// chainguard-baselayout), its version without the -rN suffix as
// VersionID. It reads only the lock, which the signed provenance attests.
func LockDistribution(lock *artifact.Lock) Distribution {
	if lock == nil {
		return Distribution{}
	}
	fam := lockFamily(lock)
	if !fam.Valid() {
		return Distribution{}
	}
	d := Distribution{ID: string(fam)}
	name, ok := releasePackages[fam]
	if !ok {
		return d
	}
	for _, p := range lock.Packages {
		if p.Name == name {
			v := p.Version
			if i := strings.LastIndex(v, "-r"); i > 0 {
				v = v[:i]
			}
			if versionIDOK(v) {
				d.VersionID = v
			}
			break
		}
	}
	return d
}

// versionIDOK reports whether v can be an os-release VERSION_ID that the
// purl distro qualifier carries intact: lower-case letters, digits, '.',
// '_' and '~' (os-release allows '-', but the qualifier splits on it).
func versionIDOK(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// Qualifier returns the value of the purl distro qualifier as syft writes
// and reads it: "<ID>-<VERSION_ID>", or "<ID>" without a version.
func (d Distribution) Qualifier() string {
	if d.VersionID == "" {
		return d.ID
	}
	return d.ID + "-" + d.VersionID
}

// Name returns the distribution's os-release NAME: "Wolfi",
// "Chainguard OS", "Alpine Linux", or the ID for another family.
func (d Distribution) Name() string {
	switch vm.RepositoryFamily(d.ID) {
	case vm.Wolfi:
		return "Wolfi"
	case vm.Chainguard:
		return "Chainguard OS"
	case vm.Alpine:
		return "Alpine Linux"
	}
	return d.ID
}

// OSRelease returns an os-release file for the distribution (ID, NAME,
// PRETTY_NAME and, when known, VERSION_ID), for a root file system no
// package gave one.
func (d Distribution) OSRelease() []byte {
	var b strings.Builder
	b.WriteString("ID=" + d.ID + "\n")
	b.WriteString("NAME=\"" + d.Name() + "\"\n")
	pretty := d.Name()
	if d.VersionID != "" {
		b.WriteString("VERSION_ID=" + d.VersionID + "\n")
		pretty += " " + d.VersionID
	}
	b.WriteString("PRETTY_NAME=\"" + pretty + "\"\n")
	return []byte(b.String())
}
