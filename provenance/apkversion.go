package provenance

import (
	"fmt"
	"strconv"
	"strings"
)

// apkVersion is an APK version split for comparison:
// digits{.digits}[letter]{_suffix[digits]}[-rN].
type apkVersion struct {
	nums     []uint64
	letter   byte
	suffixes []apkSuffix
	rev      uint64
}

type apkSuffix struct {
	rank int
	num  uint64
}

// suffix ranks: pre-release suffixes sort before the bare version (0),
// post-release ones after.
var suffixRank = map[string]int{
	"alpha": -4, "beta": -3, "pre": -2, "rc": -1,
	"cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5,
}

func parseAPKVersion(s string) (apkVersion, error) {
	var v apkVersion
	rest := s
	if i := strings.LastIndex(rest, "-r"); i >= 0 {
		n, err := strconv.ParseUint(rest[i+2:], 10, 64)
		if err != nil {
			return v, fmt.Errorf("version %q: revision %q", s, rest[i+2:])
		}
		v.rev, rest = n, rest[:i]
	}
	main, suf, _ := strings.Cut(rest, "_")
	if main == "" {
		return v, fmt.Errorf("version %q: empty", s)
	}
	if c := main[len(main)-1]; 'a' <= c && c <= 'z' {
		v.letter, main = c, main[:len(main)-1]
	}
	for _, part := range strings.Split(main, ".") {
		n, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return v, fmt.Errorf("version %q: component %q", s, part)
		}
		v.nums = append(v.nums, n)
	}
	for suf != "" {
		var one string
		one, suf, _ = strings.Cut(suf, "_")
		name := strings.TrimRight(one, "0123456789")
		rank, ok := suffixRank[name]
		if !ok {
			return v, fmt.Errorf("version %q: suffix %q", s, one)
		}
		var n uint64
		if d := one[len(name):]; d != "" {
			var err error
			if n, err = strconv.ParseUint(d, 10, 64); err != nil {
				return v, fmt.Errorf("version %q: suffix %q", s, one)
			}
		}
		v.suffixes = append(v.suffixes, apkSuffix{rank, n})
	}
	return v, nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareAPKVersions orders two parsed versions as apk does for the common
// forms (numbers, a letter, suffixes, revision).
func compareAPKVersions(a, b apkVersion) int {
	for i := 0; i < len(a.nums) || i < len(b.nums); i++ {
		switch {
		case i >= len(a.nums):
			return -1
		case i >= len(b.nums):
			return 1
		}
		if c := cmpU(a.nums[i], b.nums[i]); c != 0 {
			return c
		}
	}
	if c := cmpU(uint64(a.letter), uint64(b.letter)); c != 0 {
		return c
	}
	for i := 0; i < len(a.suffixes) || i < len(b.suffixes); i++ {
		var x, y apkSuffix
		if i < len(a.suffixes) {
			x = a.suffixes[i]
		}
		if i < len(b.suffixes) {
			y = b.suffixes[i]
		}
		if x.rank != y.rank {
			if x.rank < y.rank {
				return -1
			}
			return 1
		}
		if c := cmpU(x.num, y.num); c != 0 {
			return c
		}
	}
	return cmpU(a.rev, b.rev)
}

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
