package fips

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// InstalledDB is where APK records the installed packages of a root, and the
// older location Alpine used before merged /usr.
var installedDBs = []string{"/usr/lib/apk/db/installed", "/lib/apk/db/installed"}

// Installed is one package of an APK installed database.
type Installed struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ParseInstalled reads the package names and versions (the P: and V: lines)
// of an APK installed database; path names the file in errors. Every line of
// the database is a one-letter key, a colon and a value; packages are
// separated by blank lines.
func ParseInstalled(path string, data []byte) ([]Installed, error) {
	var out []Installed
	var cur Installed
	flush := func(line int) error {
		if cur == (Installed{}) {
			return nil
		}
		if cur.Name == "" {
			return &ParseError{Path: path, Line: line, Msg: "package without a P: (name) line"}
		}
		out = append(out, cur)
		cur = Installed{}
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" {
			if err := flush(n); err != nil {
				return nil, err
			}
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, &ParseError{Path: path, Line: n, Msg: "want KEY:VALUE (one-letter key), got " + strconv.Quote(trunc(line, 40))}
		}
		switch line[0] {
		case 'P':
			if cur.Name != "" {
				return nil, &ParseError{Path: path, Line: n, Msg: "second P: line in package " + strconv.Quote(cur.Name) + " (missing blank line?)"}
			}
			cur.Name = line[2:]
		case 'V':
			cur.Version = line[2:]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Path: path, Line: n + 1, Msg: err.Error()}
	}
	if err := flush(n); err != nil {
		return nil, err
	}
	return out, nil
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// versionAtLeast reports whether the APK version v is at least min.
func versionAtLeast(v, min string) bool { return compareVersions(v, min) >= 0 }

// compareVersions compares APK versions such as "3.4.0-r2" or
// "6.5_p20251025-r1": the parts before "-r" token by token (numbers as
// numbers; the pre-release suffixes _alpha, _beta, _pre and _rc sort before
// the release, other suffixes after), then the release numbers. It returns
// -1, 0 or 1.
func compareVersions(a, b string) int {
	am, ar := splitRelease(a)
	bm, br := splitRelease(b)
	if c := compareTokens(tokens(am), tokens(bm)); c != 0 {
		return c
	}
	switch {
	case ar < br:
		return -1
	case ar > br:
		return 1
	}
	return 0
}

func splitRelease(v string) (string, uint64) {
	i := strings.LastIndex(v, "-r")
	if i < 0 {
		return v, 0
	}
	n, err := strconv.ParseUint(v[i+2:], 10, 64)
	if err != nil {
		return v, 0
	}
	return v[:i], n
}

type token struct {
	num   uint64
	str   string
	isNum bool
}

func tokens(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		j := i
		if isDigit(s[i]) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			var n uint64
			if d := strings.TrimLeft(s[i:j], "0"); d != "" {
				var err error
				if n, err = strconv.ParseUint(d, 10, 64); err != nil {
					n = ^uint64(0) // longer than 19 digits: larger than any we compare with
				}
			}
			out = append(out, token{num: n, isNum: true})
		} else {
			for j < len(s) && !isDigit(s[j]) {
				j++
			}
			if t := strings.Trim(s[i:j], "."); t != "" {
				out = append(out, token{str: t})
			}
		}
		i = j
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func preRelease(t token) bool {
	if t.isNum {
		return false
	}
	for _, p := range []string{"_alpha", "_beta", "_pre", "_rc"} {
		if t.str == p {
			return true
		}
	}
	return false
}

func compareTokens(a, b []token) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		switch {
		case i >= len(a):
			if preRelease(b[i]) {
				return 1
			}
			return -1
		case i >= len(b):
			if preRelease(a[i]) {
				return -1
			}
			return 1
		}
		x, y := a[i], b[i]
		switch {
		case x.isNum && y.isNum:
			if x.num != y.num {
				if x.num < y.num {
					return -1
				}
				return 1
			}
		case x.isNum != y.isNum:
			// A number sorts after a suffix: 1.0.1 > 1.0_p1 is not
			// decidable here; treat the number as greater.
			if x.isNum {
				return 1
			}
			return -1
		default:
			if x.str != y.str {
				if preRelease(x) && !preRelease(y) {
					return -1
				}
				if preRelease(y) && !preRelease(x) {
					return 1
				}
				return strings.Compare(x.str, y.str)
			}
		}
	}
	return 0
}
