package apkversion

import "strings"

// Versions follow the grammar apk-tools accepts:
//
//	digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}
//
// Suffixes alpha, beta, pre and rc mark pre-releases (older than the plain
// version); cvs, svn, git, hg and p mark post-releases (newer). A dotted
// component with a leading zero compares as a string (1.02 < 1.2), the
// commit hash as a string. This file implements the comparison of apk-tools
// 3 (src/version.c) token by token; version_test.go runs apk-tools' own
// test vectors (testdata/version.data).

type tokenType int

const (
	tokInitialDigit tokenType = iota
	tokDigit
	tokLetter
	tokSuffix
	tokSuffixNo
	tokCommitHash
	tokRevisionNo
	tokEnd
	tokInvalid
)

// Suffix ranks: pre-release suffixes rank below suffixNone, post-release
// ones above.
const (
	suffixInvalid = iota
	suffixAlpha
	suffixBeta
	suffixPre
	suffixRC
	suffixNone
	suffixCVS
	suffixSVN
	suffixGit
	suffixHG
	suffixP
)

var suffixRank = map[string]int{
	"alpha": suffixAlpha, "beta": suffixBeta, "pre": suffixPre, "rc": suffixRC,
	"cvs": suffixCVS, "svn": suffixSVN, "git": suffixGit, "hg": suffixHG, "p": suffixP,
}

type token struct {
	typ    tokenType
	suffix int
	value  string // the token's text (digits, letter, suffix name, hash)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isHexDig(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') }

func span(s string, ok func(byte) bool) (string, string) {
	i := 0
	for i < len(s) && ok(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// digits reads a number; an empty one makes the token invalid.
func (t *token) digits(s string) string {
	t.value, s = span(s, isDigit)
	if t.value == "" {
		t.typ = tokInvalid
	}
	return s
}

func firstToken(s string) (token, string) {
	t := token{typ: tokInitialDigit}
	s = t.digits(s)
	return t, s
}

// next reads the token after t, checking that it may follow t.
func (t *token) next(s string) string {
	if s == "" {
		t.typ = tokEnd
		return s
	}
	c := s[0]
	switch {
	case isLower(c):
		if t.typ > tokDigit {
			break
		}
		t.typ, t.value = tokLetter, s[:1]
		return s[1:]
	case c == '.' || isDigit(c):
		if c == '.' {
			if t.typ > tokDigit {
				break
			}
			s = s[1:]
		}
		switch t.typ {
		case tokInitialDigit, tokDigit:
			t.typ = tokDigit
		case tokSuffix:
			t.typ = tokSuffixNo
		default:
			t.typ = tokInvalid
			return s
		}
		return t.digits(s)
	case c == '_':
		if t.typ > tokSuffixNo {
			break
		}
		t.value, s = span(s[1:], isLower)
		t.suffix = suffixRank[t.value]
		if t.suffix == suffixInvalid {
			break
		}
		t.typ = tokSuffix
		return s
	case c == '~':
		if t.typ >= tokCommitHash {
			break
		}
		t.value, s = span(s[1:], isHexDig)
		if t.value == "" {
			break
		}
		t.typ = tokCommitHash
		return s
	case c == '-':
		if t.typ >= tokRevisionNo || !strings.HasPrefix(s, "-r") {
			break
		}
		t.typ = tokRevisionNo
		return t.digits(s[2:])
	}
	t.typ = tokInvalid
	return s
}

// cmpNumber compares two digit strings by numeric value, exactly, whatever
// their length.
func cmpNumber(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpToken compares two tokens of the same type.
func cmpToken(a, b *token) int {
	switch a.typ {
	case tokDigit:
		if a.value[0] == '0' || b.value[0] == '0' {
			return strings.Compare(a.value, b.value)
		}
		return cmpNumber(a.value, b.value)
	case tokInitialDigit, tokSuffixNo, tokRevisionNo:
		return cmpNumber(a.value, b.value)
	case tokLetter:
		return strings.Compare(a.value, b.value)
	case tokSuffix:
		return cmpInt(a.suffix, b.suffix)
	}
	return strings.Compare(a.value, b.value)
}

// Valid reports whether s is a version apk-tools accepts.
func Valid(s string) bool {
	t, s := firstToken(s)
	for t.typ < tokEnd {
		s = t.next(s)
	}
	return t.typ == tokEnd
}

// Compare compares two versions as apk-tools does and returns -1, 0 or
// +1. Invalid versions compare as far as they parse, like apk-tools.
func Compare(a, b string) int { return compare(a, b, false) }

// CompareFuzzy is Compare, except that a equals b when b is a token-wise
// prefix of a: the "~" operator of dependencies (3.6.9 ~ 3.6).
func CompareFuzzy(a, b string) int { return compare(a, b, true) }

func compare(a, b string, fuzzy bool) int {
	ta, a := firstToken(a)
	tb, b := firstToken(b)
	for ta.typ == tb.typ && ta.typ < tokEnd {
		if c := cmpToken(&ta, &tb); c != 0 {
			return c
		}
		a = ta.next(a)
		b = tb.next(b)
	}
	if ta.typ == tb.typ || (tb.typ == tokEnd && fuzzy) {
		return 0
	}
	// Leading components are equal: the longer version is newer, unless
	// it continues with a pre-release suffix.
	if ta.typ == tokSuffix && ta.suffix < suffixNone {
		return -1
	}
	if tb.typ == tokSuffix && tb.suffix < suffixNone {
		return 1
	}
	if ta.typ > tb.typ {
		return -1
	}
	if tb.typ > ta.typ {
		return 1
	}
	return 0
}
