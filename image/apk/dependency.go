package apk

import (
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// Op is a version constraint operator, a bit mask like apk-tools': a
// version matches when its comparison with the constraint's version is one
// of the bits set.
type Op uint8

// Operator bits.
const (
	OpEqual    Op = 1 << iota // =
	OpLess                    // <
	OpGreater                 // >
	OpFuzzy                   // ~: b is a token-wise prefix of a
	OpChecksum                // ><: the package with this checksum

	// OpAny matches every version (a bare name).
	OpAny = OpEqual | OpLess | OpGreater
)

// String returns the operator as written in dependencies.
func (o Op) String() string {
	switch o {
	case OpLess:
		return "<"
	case OpLess | OpEqual:
		return "<="
	case OpLess | OpEqual | OpFuzzy:
		return "<~"
	case OpFuzzy, OpEqual | OpFuzzy:
		return "~"
	case OpEqual:
		return "="
	case OpGreater | OpEqual:
		return ">="
	case OpGreater | OpEqual | OpFuzzy:
		return ">~"
	case OpGreater:
		return ">"
	case OpChecksum:
		return "><"
	case OpAny, 0:
		return ""
	}
	return "?"
}

// ParseOp parses an operator: any combination of <, >, = and ~ (and ><).
func ParseOp(s string) (Op, error) {
	if s == "><" {
		return OpChecksum, nil
	}
	var o Op
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			o |= OpLess
		case '>':
			o |= OpGreater
		case '=':
			o |= OpEqual
		case '~':
			o |= OpFuzzy | OpEqual
		default:
			return 0, fmt.Errorf("%w: operator %q", ErrDependency, s)
		}
	}
	if o == 0 {
		return 0, fmt.Errorf("%w: empty operator", ErrDependency)
	}
	return o, nil
}

// Match reports whether version a satisfies "op b", as apk_version_match.
func Match(a string, op Op, b string) bool {
	if op&OpAny == OpAny || op == 0 {
		return true
	}
	c := apkversion.Compare(a, b)
	if op&OpFuzzy != 0 {
		c = apkversion.CompareFuzzy(a, b)
	}
	var bit Op
	switch {
	case c < 0:
		bit = OpLess
	case c > 0:
		bit = OpGreater
	default:
		bit = OpEqual
	}
	return op&bit != 0
}

// Dependency is one entry of a world, a D: field or a provides list:
//
//	[!]name[@tag][op version]
//
// where op is =, <, <=, >, >=, ~ (and <~, >~). Names may carry a prefix
// naming what they provide: so:libc.so.6, cmd:sh, pc:zlib.
type Dependency struct {
	Name     string
	Op       Op // OpAny without a version
	Version  string
	Conflict bool   // "!name": the name must not be installed (or not in the range)
	Tag      string // "name@tag": resolve only from the repository tagged so
}

const depOpChars = "<>=~"

// ParseDependency parses one dependency.
func ParseDependency(s string) (Dependency, error) {
	var d Dependency
	orig := s
	if strings.HasPrefix(s, "!") {
		d.Conflict = true
		s = s[1:]
	}
	i := strings.IndexAny(s, depOpChars)
	name := s
	if i >= 0 {
		name = s[:i]
		j := i
		for j < len(s) && strings.IndexByte(depOpChars, s[j]) >= 0 {
			j++
		}
		op, err := ParseOp(s[i:j])
		if err != nil {
			return Dependency{}, fmt.Errorf("%w in %q", err, orig)
		}
		d.Op, d.Version = op, s[j:]
		if op != OpChecksum && !apkversion.Valid(d.Version) {
			return Dependency{}, fmt.Errorf("%w: %q in dependency %q", ErrVersion, d.Version, orig)
		}
	} else {
		d.Op = OpAny
	}
	if at := strings.IndexByte(name, '@'); at >= 0 {
		name, d.Tag = name[:at], name[at+1:]
		if d.Tag == "" {
			return Dependency{}, fmt.Errorf("%w: empty tag in %q", ErrDependency, orig)
		}
	}
	if !validName(name) {
		return Dependency{}, fmt.Errorf("%w: name %q in %q", ErrDependency, name, orig)
	}
	d.Name = name
	return d, nil
}

// validName reports whether s is a usable package or provides name: not
// empty, printable, without spaces or operators, not starting with "-"
// ("/bin/sh" is a name: Alpine packages depend on it).
func validName(s string) bool {
	if s == "" || len(s) > 256 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(depOpChars+"!@", c) >= 0 {
			return false
		}
	}
	return true
}

// String formats d as ParseDependency reads it.
func (d Dependency) String() string {
	var b strings.Builder
	if d.Conflict {
		b.WriteByte('!')
	}
	b.WriteString(d.Name)
	if d.Tag != "" {
		b.WriteByte('@')
		b.WriteString(d.Tag)
	}
	if d.Op != OpAny && d.Op != 0 {
		b.WriteString(d.Op.String())
		b.WriteString(d.Version)
	}
	return b.String()
}

// MatchesVersion reports whether a provider at version v satisfies the
// version constraint of d (ignoring Conflict). An unversioned provider
// (v == "") satisfies only unversioned constraints.
func (d Dependency) MatchesVersion(v string) bool {
	if d.Op == OpAny || d.Op == 0 {
		return true
	}
	if v == "" || d.Op == OpChecksum {
		return false
	}
	return Match(v, d.Op, d.Version)
}

// ParseDependencies parses a space-separated list (a D:, p: or i: field).
func ParseDependencies(s string) ([]Dependency, error) {
	var out []Dependency
	for _, f := range strings.Fields(s) {
		d, err := ParseDependency(f)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
