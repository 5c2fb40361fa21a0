package apk

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
)

// Package is one package as an APKINDEX (or the installed database)
// describes it. Every field apk-tools writes has a field here; fields this
// package does not know are kept in Extra, in order, so writing an index
// back loses nothing.
type Package struct {
	Name             string   // P
	Version          string   // V
	Arch             string   // A
	Checksum         string   // C: "Q1" + base64 SHA-1 of the control stream (or "Q2" + SHA-256)
	Size             int64    // S: size of the .apk file
	InstalledSize    int64    // I
	Description      string   // T
	URL              string   // U
	License          string   // L
	Origin           string   // o
	Maintainer       string   // m
	BuildTime        int64    // t: Unix seconds
	Commit           string   // c
	ProviderPriority int64    // k
	Depends          []string // D
	Provides         []string // p
	InstallIf        []string // i
	Replaces         []string // r
	ReplacesPriority int64    // q
	Extra            []Field  // fields not listed above, in order
}

// Field is one "K:value" line of an index stanza.
type Field struct {
	Key   byte
	Value string
}

// Filename returns the package's file name in its repository.
func (p *Package) Filename() string { return p.Name + "-" + p.Version + ".apk" }

// String returns name-version.
func (p *Package) String() string { return p.Name + "-" + p.Version }

// maxIndexLine bounds one line of an index; apk-tools caps metadata lines
// far lower.
const maxIndexLine = 1 << 20

// ParseIndex reads the text of an APKINDEX (the file inside
// APKINDEX.tar.gz) and returns its packages in file order. Every stanza
// needs a name and a version; numeric fields must be numbers.
func ParseIndex(r io.Reader) ([]*Package, error) {
	return parseStanzas(r, "APKINDEX", func(p *Package, k byte, v string, line int) (bool, error) {
		return setIndexField(p, k, v, line, "APKINDEX")
	})
}

// parseStanzas splits r into blank-line separated stanzas of "K:value"
// lines, each with one P: (name) line. set handles one field and reports
// whether it knew the key; it is called with p of the stanza under way.
func parseStanzas(r io.Reader, what string, set func(p *Package, k byte, v string, line int) (bool, error)) ([]*Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxIndexLine)
	var (
		out   []*Package
		cur   *Package
		line  int
		from  int
		named bool // cur has had its P: line
	)
	finish := func() error {
		if cur == nil {
			return nil
		}
		if cur.Name == "" {
			return &FormatError{What: what, Line: from, Msg: "package without a name (P:)"}
		}
		// Real indexes carry versions apk-tools 3 calls invalid (0.99f7);
		// apk-tools reads them and compares them as far as they parse.
		if cur.Version == "" || strings.ContainsFunc(cur.Version, isSpaceOrControl) {
			return &FormatError{What: what, Line: from, Msg: "package " + cur.Name + ": bad version " + strconv.Quote(cur.Version)}
		}
		out = append(out, cur)
		cur = nil
		return nil
	}
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			if err := finish(); err != nil {
				return nil, err
			}
			continue
		}
		if len(b) < 2 || b[1] != ':' {
			return nil, &FormatError{What: what, Line: line, Msg: "want K:value, got " + strconv.Quote(string(trim(b, 40)))}
		}
		if cur == nil {
			cur = &Package{}
			from, named = line, false
		}
		k, v := b[0], string(b[2:])
		if k == 'P' {
			// Two names in one stanza would hide the first package.
			if named {
				return nil, &FormatError{What: what, Line: line, Msg: "second P: line in package " + strconv.Quote(cur.Name) + " (missing blank line?)"}
			}
			named = true
		}
		known, err := set(cur, k, v, line)
		if err != nil {
			return nil, err
		}
		if !known {
			cur.Extra = append(cur.Extra, Field{Key: k, Value: v})
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, &FormatError{What: what, Line: line + 1, Msg: "line longer than 1 MiB"}
		}
		return nil, err
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// isSpaceOrControl reports the bytes no version holds: blanks and control
// characters (a stray \r would not survive being written back).
func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func trim(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func parseNum(what string, line int, k byte, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &FormatError{What: what, Line: line, Msg: string(k) + ": want a non-negative number, got " + strconv.Quote(v)}
	}
	return n, nil
}

func fields(v string) []string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return nil
	}
	return f
}

// setIndexField stores one field of the index format in p.
func setIndexField(p *Package, k byte, v string, line int, what string) (bool, error) {
	var err error
	switch k {
	case 'P':
		p.Name = v
	case 'V':
		p.Version = v
	case 'A':
		p.Arch = v
	case 'C':
		p.Checksum = v
	case 'S':
		p.Size, err = parseNum(what, line, k, v)
	case 'I':
		p.InstalledSize, err = parseNum(what, line, k, v)
	case 'T':
		p.Description = v
	case 'U':
		p.URL = v
	case 'L':
		p.License = v
	case 'o':
		p.Origin = v
	case 'm':
		p.Maintainer = v
	case 't':
		p.BuildTime, err = parseNum(what, line, k, v)
	case 'c':
		p.Commit = v
	case 'k':
		p.ProviderPriority, err = parseNum(what, line, k, v)
	case 'D':
		p.Depends = fields(v)
	case 'p':
		p.Provides = fields(v)
	case 'i':
		p.InstallIf = fields(v)
	case 'r':
		p.Replaces = fields(v)
	case 'q':
		p.ReplacesPriority, err = parseNum(what, line, k, v)
	default:
		return false, nil
	}
	return true, err
}

// WriteIndex writes packages as APKINDEX text, each stanza in apk-tools'
// field order (C P V A S I T U L o m t c k D p i, then r q and the fields
// it does not know), so that ParseIndex reads back the same packages.
func WriteIndex(w io.Writer, pkgs []*Package) error {
	bw := bufio.NewWriter(w)
	var buf bytes.Buffer
	for _, p := range pkgs {
		buf.Reset()
		appendIndexStanza(&buf, p)
		buf.WriteByte('\n')
		if _, err := bw.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func appendIndexStanza(b *bytes.Buffer, p *Package) {
	kv := func(k byte, v string) {
		b.WriteByte(k)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	opt := func(k byte, v string) {
		if v != "" {
			kv(k, v)
		}
	}
	num := func(k byte, n int64) {
		if n != 0 {
			kv(k, strconv.FormatInt(n, 10))
		}
	}
	list := func(k byte, l []string) {
		if len(l) > 0 {
			kv(k, strings.Join(l, " "))
		}
	}
	opt('C', p.Checksum)
	kv('P', p.Name)
	kv('V', p.Version)
	opt('A', p.Arch)
	kv('S', strconv.FormatInt(p.Size, 10))
	kv('I', strconv.FormatInt(p.InstalledSize, 10))
	opt('T', p.Description)
	opt('U', p.URL)
	opt('L', p.License)
	opt('o', p.Origin)
	opt('m', p.Maintainer)
	num('t', p.BuildTime)
	opt('c', p.Commit)
	num('k', p.ProviderPriority)
	list('D', p.Depends)
	list('p', p.Provides)
	list('i', p.InstallIf)
	list('r', p.Replaces)
	num('q', p.ReplacesPriority)
	for _, f := range p.Extra {
		kv(f.Key, f.Value)
	}
}
