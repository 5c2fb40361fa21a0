package apk

import "strings"

// validV2 reports whether apk-tools 2 (apk_version_validate) accepts s.
// It accepts some versions the apk-tools 3 grammar of package apkversion
// refuses, such as "6.8.0p2-r4" (a letter followed by digits), which real
// Alpine indexes carry in dependencies; apk-tools 2 drops a dependency
// list from its first entry it refuses, so the resolver must refuse the
// same ones.
func validV2(s string) bool {
	const (
		tInvalid = iota - 1
		tDigitOrZero
		tDigit
		tLetter
		tSuffix
		tSuffixNo
		tRevisionNo
		tEnd
	)
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	isLower := func(c byte) bool { return c >= 'a' && c <= 'z' }
	next := func(typ int, b string) (int, string) {
		n := tInvalid
		switch {
		case b == "":
			n = tEnd
		case (typ == tDigit || typ == tDigitOrZero) && isLower(b[0]):
			n = tLetter
		case typ == tLetter && isDigit(b[0]):
			n = tDigit
		case typ == tSuffix && isDigit(b[0]):
			n = tSuffixNo
		default:
			switch b[0] {
			case '.':
				n = tDigitOrZero
			case '_':
				n = tSuffix
			case '-':
				if len(b) > 1 && b[1] == 'r' {
					n = tRevisionNo
					b = b[1:]
				}
			}
			b = b[1:]
		}
		if n < typ && !((n == tDigitOrZero && typ == tDigit) || (n == tSuffix && typ == tSuffixNo) || (n == tDigit && typ == tLetter)) {
			n = tInvalid
		}
		return n, b
	}
	typ, b := tDigit, s
	for typ != tEnd && typ != tInvalid {
		if b == "" {
			break
		}
		i := 0
		nt := tInvalid
		switch typ {
		case tDigitOrZero, tDigit, tSuffixNo, tRevisionNo:
			if typ == tDigitOrZero && b[0] == '0' {
				for i+1 < len(b) && b[i+1] == '0' {
					i++
				}
				nt = tDigit
				break
			}
			for i < len(b) && isDigit(b[i]) {
				i++
			}
			if i >= 18 {
				return false
			}
		case tLetter:
			i = 1
		case tSuffix:
			found := false
			for _, suf := range []string{"alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"} {
				if strings.HasPrefix(b, suf) {
					i, found = len(suf), true
					break
				}
			}
			if !found {
				return false
			}
		}
		b = b[i:]
		switch {
		case b == "":
			typ = tEnd
		case nt != tInvalid:
			typ = nt
		default:
			typ, b = next(typ, b)
		}
	}
	return typ == tEnd
}
