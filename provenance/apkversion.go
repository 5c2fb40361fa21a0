package provenance

import (
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// versionConstraint is the version part of a package denial: an APK
// constraint as dependencies write it (<V, <=V, =V, >=V, >V, ~V, <~V,
// >~V; spaces after the operator allowed), its negation !=V, or "*" (or
// empty) for every version. It matches with apkversion, the comparison the
// resolver uses.
type versionConstraint struct {
	c   apkversion.Constraint
	not bool // !=V: every version but V
	raw string
}

func parseConstraint(s string) (versionConstraint, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return versionConstraint{c: apkversion.Constraint{Op: apkversion.OpAny}, raw: "*"}, nil
	}
	spec, not := s, false
	if rest, ok := strings.CutPrefix(s, "!="); ok {
		spec, not = "="+rest, true
	}
	ver := strings.TrimLeft(spec, "<>=~")
	c, err := apkversion.ParseConstraint(spec[:len(spec)-len(ver)] + strings.TrimSpace(ver))
	switch {
	case err != nil:
		return versionConstraint{}, fmt.Errorf("%w: constraint %q: want an operator (<, <=, =, !=, >=, >, ~) and an APK version, or *: %w", ErrInput, s, err)
	case c.Op == apkversion.OpChecksum:
		return versionConstraint{}, fmt.Errorf("%w: constraint %q: a checksum is not a version range", ErrInput, s)
	}
	return versionConstraint{c: c, not: not, raw: s}, nil
}

// matches reports whether version satisfies the constraint. A version that
// apk-tools would not accept matches every constraint: a denial is never
// dodged by an odd version.
func (c versionConstraint) matches(version string) bool {
	if c.c.Op == apkversion.OpAny {
		return true
	}
	if !apkversion.Valid(version) {
		return true
	}
	return c.c.Match(version) != c.not
}
