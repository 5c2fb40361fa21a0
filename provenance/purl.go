package provenance

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// Purl returns the package URL of an APK package of the given repository
// family: pkg:apk/<family>/<name>@<version>?arch=<arch>. Name and version
// are percent-encoded as the purl specification requires.
func Purl(family vm.RepositoryFamily, p artifact.Package) string {
	return distroPurl(family, p, Distribution{})
}

// distroPurl is [Purl] with the distro qualifier of d (after arch: the
// purl specification sorts qualifiers by key), as syft writes it and
// reads the image's distribution from it.
func distroPurl(family vm.RepositoryFamily, p artifact.Package, d Distribution) string {
	s := "pkg:apk/" + purlEscape(string(family)) + "/" + purlEscape(p.Name) + "@" + purlEscape(p.Version)
	sep := "?"
	if p.Arch != "" {
		s += sep + "arch=" + purlEscape(p.Arch)
		sep = "&"
	}
	if d.ID != "" {
		s += sep + "distro=" + purlEscape(d.Qualifier())
	}
	return s
}

// PackageRef is a package named by a purl, as a policy sees it.
type PackageRef struct {
	Family  vm.RepositoryFamily
	Name    string
	Version string
	Arch    string
}

// ParsePurl parses the purls [Purl] writes (and the SBOM's, whose distro
// qualifier it ignores).
func ParsePurl(s string) (PackageRef, error) {
	rest, ok := strings.CutPrefix(s, "pkg:apk/")
	if !ok {
		return PackageRef{}, fmt.Errorf("%w: purl %q is not pkg:apk/", ErrMalformed, s)
	}
	rest, query, _ := strings.Cut(rest, "?")
	fam, nv, ok := strings.Cut(rest, "/")
	if !ok {
		return PackageRef{}, fmt.Errorf("%w: purl %q has no namespace", ErrMalformed, s)
	}
	name, ver, ok := strings.Cut(nv, "@")
	if !ok || name == "" || ver == "" {
		return PackageRef{}, fmt.Errorf("%w: purl %q has no name@version", ErrMalformed, s)
	}
	var r PackageRef
	var err error
	var f string
	if f, err = url.PathUnescape(fam); err == nil {
		r.Family = vm.RepositoryFamily(f)
		if r.Name, err = url.PathUnescape(name); err == nil {
			r.Version, err = url.PathUnescape(ver)
		}
	}
	if err != nil {
		return PackageRef{}, fmt.Errorf("%w: purl %q: %v", ErrMalformed, s, err)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return PackageRef{}, fmt.Errorf("%w: purl %q: %v", ErrMalformed, s, err)
		}
		r.Arch = q.Get("arch")
	}
	return r, nil
}

// purlEscape percent-encodes everything but the unreserved characters.
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
