package apkversion

import (
	"fmt"
	"strings"
)

// Op is a constraint operator, a bit mask as apk-tools stores it
// (src/apk_version.h): a version satisfies "op v" when its comparison with
// v gives one of the results whose bit is set.
type Op uint8

// Operator bits.
const (
	OpEqual    Op = 1 << iota // =
	OpLess                    // <
	OpGreater                 // >
	OpFuzzy                   // ~: equal when v is a token-wise prefix (3.6.9 ~ 3.6)
	OpChecksum                // ><: the package whose checksum is the "version"

	// OpAny matches every version: a bare name, or the zero Constraint.
	OpAny = OpEqual | OpLess | OpGreater
)

// opChars are the characters operators are written with.
const opChars = "<>=~"

// String returns the operator as apk-tools writes it (apk_version_op_string):
// <, <=, <~, ~, =, >=, >~, >, >< or, for OpAny, nothing.
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

// ParseOp parses an operator as apk-tools does
// (apk_version_result_mask_blob): each of <, > and = adds its result, ~
// adds OpFuzzy and OpEqual, in any order, so "=<" is "<=". An operator
// with both < and > is apk-tools' checksum mask ("><", also "<>"); with
// = or ~ as well it would match every version and is refused, as is an
// empty one.
func ParseOp(s string) (Op, error) {
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
			return 0, fmt.Errorf("%w: operator %q", ErrConstraint, s)
		}
	}
	switch {
	case o == 0:
		return 0, fmt.Errorf("%w: empty operator", ErrConstraint)
	case o == OpLess|OpGreater:
		return OpChecksum, nil
	case o&(OpLess|OpGreater) == OpLess|OpGreater:
		return 0, fmt.Errorf("%w: operator %q matches every version", ErrConstraint, s)
	}
	return o, nil
}

// Match reports whether version a satisfies "op b", as apk_version_match
// does: the comparison of a with b (fuzzy if op has OpFuzzy) must give a
// result whose bit op sets. OpAny (and 0) match every version.
func Match(a string, op Op, b string) bool {
	if op&OpAny == OpAny || op == 0 {
		return true
	}
	c := compare(a, b, op&OpFuzzy != 0)
	bit := OpEqual
	switch {
	case c < 0:
		bit = OpLess
	case c > 0:
		bit = OpGreater
	}
	return op&bit != 0
}

// Constraint is a version constraint: an operator and the version it
// compares with, as the part after a name in a dependency ("zlib>=1.3",
// "python-3.13~3.13") or a version policy. The zero Constraint matches
// every version.
type Constraint struct {
	Op      Op     // OpAny when the constraint is empty
	Version string // a valid version, or the checksum for OpChecksum
}

// ParseConstraint parses "op version", as written after a name in a
// dependency: op is one ParseOp accepts, version one that Valid accepts
// (after "><", the package checksum, such as "Q1...=", which apk-tools
// does not check). The empty string is
// the constraint that matches every version. Errors wrap [ErrConstraint]
// or [ErrVersion].
func ParseConstraint(s string) (Constraint, error) {
	if s == "" {
		return Constraint{Op: OpAny}, nil
	}
	ver := strings.TrimLeft(s, opChars)
	if len(ver) == len(s) {
		return Constraint{}, fmt.Errorf("%w: %q does not start with an operator (<, <=, =, >=, >, ~)", ErrConstraint, s)
	}
	op, err := ParseOp(s[:len(s)-len(ver)])
	if err != nil {
		return Constraint{}, err
	}
	if op != OpChecksum && !Valid(ver) {
		return Constraint{}, fmt.Errorf("%w %q in constraint %q", ErrVersion, ver, s)
	}
	return Constraint{Op: op, Version: ver}, nil
}

// Match reports whether version v satisfies c. An empty v (an unversioned
// provider) satisfies only a constraint that matches every version, and a
// checksum constraint no version (it names one package file, not a range).
func (c Constraint) Match(v string) bool {
	if c.Op&OpAny == OpAny || c.Op == 0 {
		return true
	}
	if v == "" || c.Op == OpChecksum {
		return false
	}
	return Match(v, c.Op, c.Version)
}

// String returns c as ParseConstraint reads it; "" for a constraint that
// matches every version.
func (c Constraint) String() string {
	if c.Op&OpAny == OpAny || c.Op == 0 {
		return ""
	}
	return c.Op.String() + c.Version
}
