package provenance

import (
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// apkVersion is a version that apk-tools accepts; it is compared with
// image/apk's comparator, the one the resolver uses.
type apkVersion string

func parseAPKVersion(s string) (apkVersion, error) {
	if !apkversion.Valid(s) {
		return "", fmt.Errorf("%w: APK version %q", ErrInput, s)
	}
	return apkVersion(s), nil
}

func compareAPKVersions(a, b apkVersion) int { return apkversion.Compare(string(a), string(b)) }

// versionConstraint is "<V", "<=V", "=V", "!=V", ">=V", ">V", or empty (any).
type versionConstraint struct {
	op  string
	ver apkVersion
	raw string
}

func parseConstraint(s string) (versionConstraint, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return versionConstraint{raw: "*"}, nil
	}
	for _, op := range []string{"<=", ">=", "!=", "<", ">", "="} {
		if rest, ok := strings.CutPrefix(s, op); ok {
			v, err := parseAPKVersion(strings.TrimSpace(rest))
			if err != nil {
				return versionConstraint{}, err
			}
			return versionConstraint{op: op, ver: v, raw: s}, nil
		}
	}
	return versionConstraint{}, fmt.Errorf("constraint %q: want an operator (<, <=, =, !=, >=, >) and a version, or *", s)
}

// matches reports whether version satisfies the constraint. A version that
// does not parse matches every constraint but "*"-less ones conservatively:
// it is treated as matching, so a denial is never dodged by an odd version.
func (c versionConstraint) matches(version string) bool {
	if c.op == "" {
		return true
	}
	v, err := parseAPKVersion(version)
	if err != nil {
		return true
	}
	r := compareAPKVersions(v, c.ver)
	switch c.op {
	case "<":
		return r < 0
	case "<=":
		return r <= 0
	case "=":
		return r == 0
	case "!=":
		return r != 0
	case ">=":
		return r >= 0
	case ">":
		return r > 0
	}
	return true
}
