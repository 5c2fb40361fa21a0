package apk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// Dependency is one entry of a world, a D: field or a provides list:
//
//	[!]name[@tag][op version]
//
// where "op version" is an [apkversion.Constraint]: op is =, <, <=, >, >=,
// ~ (and <~, >~, ><). Names may carry a prefix naming what they provide:
// so:libc.so.6, cmd:sh, pc:zlib.
type Dependency struct {
	Name string
	// Constraint is the versions that satisfy the dependency: Op
	// apkversion.OpAny without a version. An unversioned provider ("")
	// satisfies only OpAny.
	Constraint apkversion.Constraint
	Conflict   bool   // "!name": the name must not be installed (or not in the range)
	Tag        string // "name@tag": resolve only from the repository tagged so
}

// depOpChars start the constraint after a name.
const depOpChars = "<>=~"

// ParseDependency parses one dependency.
func ParseDependency(s string) (Dependency, error) {
	var d Dependency
	orig := s
	if strings.HasPrefix(s, "!") {
		d.Conflict = true
		s = s[1:]
	}
	name, constraint := s, ""
	if i := strings.IndexAny(s, depOpChars); i >= 0 {
		name, constraint = s[:i], s[i:]
	}
	c, err := apkversion.ParseConstraint(constraint)
	if err != nil {
		sentinel := ErrDependency
		if errors.Is(err, apkversion.ErrVersion) {
			sentinel = ErrVersion
		}
		return Dependency{}, fmt.Errorf("%w in dependency %q: %w", sentinel, orig, err)
	}
	d.Constraint = c
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
	b.WriteString(d.Constraint.String())
	return b.String()
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
