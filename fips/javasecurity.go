package fips

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Java security configuration: the provider list and the BouncyCastle FIPS
// approved-only switch.
const (
	bcFIPSProvider  = "org.bouncycastle.jcajce.provider.BouncyCastleFipsProvider"
	bcJSSEProvider  = "org.bouncycastle.jsse.provider.BouncyCastleJsseProvider"
	approvedOnlyKey = "org.bouncycastle.fips.approved_only"
)

// javaSecurityGlobs are where JDKs keep java.security: conf/security since
// JDK 9, jre/lib/security before.
var javaSecurityGlobs = []string{
	"/usr/lib/jvm/*/conf/security/java.security",
	"/usr/lib/jvm/*/jre/lib/security/java.security",
}

// bcFIPSJarDirs are searched for the BouncyCastle FIPS jar (bc-fips-*.jar).
var bcFIPSJarDirs = []string{"/usr/share/java", "/usr/lib/jvm"}

// javaProvider is one security.provider.N entry.
type javaProvider struct {
	N     int
	Class string // the class or provider name
	Arg   string // the configuration after the name, if any
}

func (p javaProvider) String() string {
	if p.Arg == "" {
		return fmt.Sprintf("security.provider.%d=%s", p.N, p.Class)
	}
	return fmt.Sprintf("security.provider.%d=%s %s", p.N, p.Class, p.Arg)
}

func (p javaProvider) bcFIPS() bool { return p.Class == bcFIPSProvider || p.Class == "BCFIPS" }

func (p javaProvider) bcJSSE() bool { return p.Class == bcJSSEProvider || p.Class == "BCJSSE" }

// ParseProperties reads a Java properties file (java.security is one): key
// and value separated by '=', ':' or white space, # and ! comments, lines
// continued with a trailing backslash, and the \t \n \r \f \uXXXX escapes.
// Later keys replace earlier ones. path names the file in errors.
func ParseProperties(path string, data []byte) (map[string]string, error) {
	props := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimLeft(strings.TrimSuffix(lines[i], "\r"), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continued(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(strings.TrimSuffix(lines[i], "\r"), " \t\f")
		}
		if continued(line) {
			line = line[:len(line)-1]
		}
		k, v := splitProperty(line)
		key, err := unescapeProperty(k)
		if err != nil {
			return nil, &ParseError{Path: path, Line: lineNo, Msg: err.Error()}
		}
		val, err := unescapeProperty(v)
		if err != nil {
			return nil, &ParseError{Path: path, Line: lineNo, Msg: err.Error()}
		}
		props[key] = val
	}
	return props, nil
}

// continued reports whether a line ends in an odd number of backslashes.
func continued(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitProperty(line string) (string, string) {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '=', ':':
			return line[:i], strings.TrimLeft(line[i+1:], " \t\f")
		case ' ', '\t', '\f':
			rest := strings.TrimLeft(line[i:], " \t\f")
			if rest != "" && (rest[0] == '=' || rest[0] == ':') {
				rest = strings.TrimLeft(rest[1:], " \t\f")
			}
			return line[:i], rest
		}
	}
	return line, ""
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \u escape %q`, s[i-1:])
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf(`malformed \u escape %q`, s[i-1:i+5])
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// javaProviders returns the security.provider.N entries in order of N.
func javaProviders(props map[string]string) []javaProvider {
	var out []javaProvider
	for k, v := range props {
		rest, ok := strings.CutPrefix(k, "security.provider.")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 {
			continue
		}
		class, arg, _ := strings.Cut(strings.TrimSpace(v), " ")
		out = append(out, javaProvider{N: n, Class: class, Arg: strings.TrimSpace(arg)})
	}
	slices.SortFunc(out, func(a, b javaProvider) int { return a.N - b.N })
	return out
}

// checkJavaSecurity checks one java.security: the BouncyCastle FIPS
// providers come first (BCFIPS at position 1, BCJSSE bound to BCFIPS), and
// approved-only mode is on. It returns what is wrong, or "".
func checkJavaSecurity(props map[string]string) string {
	provs := javaProviders(props)
	if len(provs) == 0 {
		return "no security.provider.N entries"
	}
	if !provs[0].bcFIPS() {
		return "first provider is " + provs[0].String()
	}
	seenOther := false
	for _, p := range provs {
		switch {
		case p.bcFIPS():
			if seenOther {
				return "BCFIPS after a non-FIPS provider: " + p.String()
			}
		case p.bcJSSE():
			if seenOther {
				return "BCJSSE after a non-FIPS provider: " + p.String()
			}
			if !strings.Contains(p.Arg, "fips:BCFIPS") {
				return "BCJSSE not bound to BCFIPS (want fips:BCFIPS): " + p.String()
			}
		default:
			seenOther = true
		}
	}
	if v, ok := props[approvedOnlyKey]; !ok || strings.TrimSpace(v) != "true" {
		if !ok {
			return approvedOnlyKey + " not set"
		}
		return approvedOnlyKey + "=" + v
	}
	return ""
}
