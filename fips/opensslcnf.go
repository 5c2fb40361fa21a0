package fips

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Limits of the OpenSSL configuration reader: how deep includes nest and how
// many files one configuration may pull in.
const (
	maxIncludeDepth = 8
	maxConfigFiles  = 64
)

// cnfValue is one name = value of an OpenSSL configuration, with where it
// was set.
type cnfValue struct {
	Value string
	File  string
	Line  int
}

// cnfSection is one [section] of an OpenSSL configuration.
type cnfSection struct {
	Name   string
	File   string // the file that first opened the section
	Values map[string]cnfValue
	Keys   []string // in the order first set
}

func (s *cnfSection) get(k string) (string, bool) {
	if s == nil {
		return "", false
	}
	v, ok := s.Values[k]
	return v.Value, ok
}

// cnfInclude is one .include directive and what it resolved to.
type cnfInclude struct {
	From  string   // the file with the directive
	Line  int      // its line
	Path  string   // the path as written
	Files []string // the files it included (several for a directory)
	Err   error    // why nothing was included
}

// opensslConfig is an OpenSSL configuration file with its includes merged,
// as libcrypto reads it: later values of a name replace earlier ones, and
// the current section carries on across an include.
type opensslConfig struct {
	Path     string
	Sections map[string]*cnfSection
	Includes []cnfInclude
}

func (c *opensslConfig) section(name string) *cnfSection {
	if c == nil {
		return nil
	}
	return c.Sections[name]
}

// cnfParser reads configuration files from an image.
type cnfParser struct {
	fsys    fs.FS
	max     int64
	cfg     *opensslConfig
	current string
	files   int
	stack   []string
}

// parseOpenSSLConfig reads the configuration at abs in fsys and everything
// it includes. A missing top-level file is returned as an fs.ErrNotExist
// error; a missing include is recorded in Includes.
func parseOpenSSLConfig(ctx context.Context, fsys fs.FS, abs string, max int64) (*opensslConfig, error) {
	p := &cnfParser{fsys: fsys, max: max,
		cfg: &opensslConfig{Path: abs, Sections: map[string]*cnfSection{}}, current: "default"}
	data, err := readFile(fsys, abs, max)
	if err != nil {
		return nil, err
	}
	p.files = 1
	if err := p.parse(ctx, abs, data); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// parseOpenSSLConfigBytes parses one configuration file without includes
// (they are recorded, not followed). For fuzzing and tests.
func parseOpenSSLConfigBytes(name string, data []byte) (*opensslConfig, error) {
	p := &cnfParser{cfg: &opensslConfig{Path: name, Sections: map[string]*cnfSection{}}, current: "default"}
	if err := p.parse(context.Background(), name, data); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

func (p *cnfParser) parse(ctx context.Context, file string, data []byte) error {
	if slices.Contains(p.stack, file) {
		return &ParseError{Path: file, Msg: "include cycle: " + strings.Join(append(p.stack, file), " -> ")}
	}
	p.stack = append(p.stack, file)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	p.ensure(p.current, file)

	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		lineNo := i + 1
		line := strings.TrimSuffix(lines[i], "\r")
		// A backslash at the end of a line continues it on the next.
		for strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimSuffix(lines[i], "\r")
		}
		line = strings.TrimSpace(stripComment(line))
		if line == "" {
			continue
		}
		switch {
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return &ParseError{Path: file, Line: lineNo, Msg: "section header without ]"}
			}
			name := strings.TrimSpace(line[1:end])
			if name == "" || !validName(name) {
				return &ParseError{Path: file, Line: lineNo, Msg: fmt.Sprintf("invalid section name %q", name)}
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" {
				return &ParseError{Path: file, Line: lineNo, Msg: fmt.Sprintf("text after section header: %q", trunc(rest, 40))}
			}
			p.current = name
			p.ensure(name, file)
		case line[0] == '.':
			if err := p.directive(ctx, file, lineNo, line); err != nil {
				return err
			}
		default:
			eq := strings.IndexByte(line, '=')
			if eq < 0 {
				return &ParseError{Path: file, Line: lineNo, Msg: fmt.Sprintf("want name = value, got %q", trunc(line, 40))}
			}
			name := strings.TrimSpace(line[:eq])
			sect := p.current
			if i := strings.Index(name, "::"); i >= 0 {
				sect, name = name[:i], name[i+2:]
			}
			if name == "" || !validName(name) || !validName(sect) {
				return &ParseError{Path: file, Line: lineNo, Msg: fmt.Sprintf("invalid name %q", trunc(strings.TrimSpace(line[:eq]), 40))}
			}
			val, err := p.value(strings.TrimSpace(line[eq+1:]))
			if err != nil {
				return &ParseError{Path: file, Line: lineNo, Msg: err.Error()}
			}
			s := p.ensure(sect, file)
			if _, ok := s.Values[name]; !ok {
				s.Keys = append(s.Keys, name)
			}
			s.Values[name] = cnfValue{Value: val, File: file, Line: lineNo}
		}
	}
	return nil
}

func (p *cnfParser) ensure(name, file string) *cnfSection {
	s := p.cfg.Sections[name]
	if s == nil {
		s = &cnfSection{Name: name, File: file, Values: map[string]cnfValue{}}
		p.cfg.Sections[name] = s
	}
	return s
}

// directive handles .include and .pragma lines.
func (p *cnfParser) directive(ctx context.Context, file string, line int, text string) error {
	word, arg, _ := strings.Cut(text, " ")
	if w, a, ok := strings.Cut(text, "="); ok && !strings.ContainsAny(strings.TrimSpace(w), " \t") {
		word, arg = strings.TrimSpace(w), a
	}
	arg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(arg), "="))
	switch word {
	case ".pragma":
		return nil // dollarid, abspath, includedir: none changes what the checks read
	case ".include":
	default:
		return &ParseError{Path: file, Line: line, Msg: fmt.Sprintf("unknown directive %q", trunc(word, 20))}
	}
	target, err := p.value(arg)
	if err != nil {
		return &ParseError{Path: file, Line: line, Msg: err.Error()}
	}
	if target == "" {
		return &ParseError{Path: file, Line: line, Msg: ".include without a path"}
	}
	inc := cnfInclude{From: file, Line: line, Path: target}
	// libcrypto resolves a relative include against OPENSSL_CONF_INCLUDE or
	// the working directory; in an image we take the including file's
	// directory.
	abs := target
	if !path.IsAbs(abs) {
		abs = path.Join(path.Dir(file), abs)
	}
	if p.fsys == nil {
		p.cfg.Includes = append(p.cfg.Includes, inc)
		return nil
	}
	files, err := p.includeFiles(abs)
	if err != nil {
		inc.Err = err
		p.cfg.Includes = append(p.cfg.Includes, inc)
		return nil
	}
	inc.Files = files
	p.cfg.Includes = append(p.cfg.Includes, inc)
	for _, f := range files {
		if len(p.stack) >= maxIncludeDepth {
			return &ParseError{Path: file, Line: line, Msg: fmt.Sprintf("includes nest deeper than %d", maxIncludeDepth)}
		}
		if p.files++; p.files > maxConfigFiles {
			return &ParseError{Path: file, Line: line, Msg: fmt.Sprintf("more than %d configuration files", maxConfigFiles)}
		}
		data, err := readFile(p.fsys, f, p.max)
		if err != nil {
			return err
		}
		if err := p.parse(ctx, f, data); err != nil {
			return err
		}
	}
	return nil
}

// includeFiles returns the file abs names, or the *.cnf and *.conf files of
// the directory it names, sorted.
func (p *cnfParser) includeFiles(abs string) ([]string, error) {
	r, err := resolve(p.fsys, abs)
	if err != nil {
		return nil, err
	}
	fi, err := fs.Stat(p.fsys, fsPath(r))
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{r}, nil
	}
	ents, err := fs.ReadDir(p.fsys, fsPath(r))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".cnf") || strings.HasSuffix(n, ".conf")) {
			out = append(out, path.Join(r, n))
		}
	}
	slices.Sort(out)
	return out, nil
}

// value unquotes a value and expands $name, ${name}, $(name) and the
// section::name forms from values already read. A variable from the ENV
// section depends on the environment of each process, so the checks cannot
// prove anything from it: it stays unexpanded, as ${ENV::NAME}, and a check
// that needs the value fails on it.
func (p *cnfParser) value(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			if i+1 < len(v) {
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				case 'b':
					b.WriteByte('\b')
				default:
					b.WriteByte(v[i])
				}
			}
		case '"', '\'':
			end := strings.IndexByte(v[i+1:], c)
			if end < 0 {
				return "", fmt.Errorf("unterminated %c quote", c)
			}
			b.WriteString(v[i+1 : i+1+end])
			i += end + 1
		case '$':
			name, n, err := varName(v[i+1:])
			if err != nil {
				return "", err
			}
			sect := p.current
			if s, k, ok := strings.Cut(name, "::"); ok {
				sect, name = s, k
			}
			if sect == "ENV" {
				b.WriteString("${ENV::" + name + "}")
				i += n
				continue
			}
			val, ok := p.cfg.section(sect).get(name)
			if !ok {
				if val, ok = p.cfg.section("default").get(name); !ok {
					return "", fmt.Errorf("variable %s::%s has no value", sect, name)
				}
			}
			b.WriteString(val)
			i += n
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String()), nil
}

// varName reads the name after a $ and returns it with the bytes consumed.
func varName(s string) (string, int, error) {
	if s != "" && (s[0] == '{' || s[0] == '(') {
		closer := map[byte]byte{'{': '}', '(': ')'}[s[0]]
		end := strings.IndexByte(s, closer)
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated variable %q", trunc("$"+s, 20))
		}
		return s[1:end], end + 1, nil
	}
	n := 0
	for n < len(s) && (isNameByte(s[n]) || (s[n] == ':' && n+1 < len(s) && s[n+1] == ':')) {
		if s[n] == ':' {
			n += 2
			continue
		}
		n++
	}
	if n == 0 {
		return "", 0, fmt.Errorf("$ without a variable name")
	}
	return s[:n], n, nil
}

func isNameByte(c byte) bool {
	return c == '_' || c == '.' || c == ';' || c == '!' || c == '%' || c == ',' || c == '-' ||
		(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isNameByte(c) && c != ' ' && c != '/' && c != '+' && c != '*' && c != '@' {
			return false
		}
	}
	return true
}

// stripComment removes a # comment that is not inside quotes or escaped.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return s[:i]
		}
	}
	return s
}

// truthy reports whether a configuration value switches something on, as
// libcrypto 3.2 and later read booleans: 0, no, false and off are off.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "0", "no", "false", "off":
		return false
	}
	return true
}
