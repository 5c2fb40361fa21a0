package apk

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/image/apk/apkdb"
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

// ParseIndex reads the text of an APKINDEX (the file inside
// APKINDEX.tar.gz) and returns its packages in file order. Every stanza
// needs a name and a version; numeric fields must be numbers.
func ParseIndex(r io.Reader) ([]*Package, error) {
	return parseStanzas(r, "APKINDEX", func(p *Package, k byte, v string, line int) (bool, error) {
		return setIndexField(p, k, v, line, "APKINDEX")
	})
}

// parseStanzas reads the stanzas of r with apkdb, the one reader of the
// format (one name and a usable version per stanza), and builds a Package
// of each: set handles one field and reports whether it knew the key; it
// is called with p of the stanza under way. Fields it does not know go to
// Extra, in order.
func parseStanzas(r io.Reader, what string, set func(p *Package, k byte, v string, line int) (bool, error)) ([]*Package, error) {
	sc := apkdb.NewScanner(r)
	var out []*Package
	for sc.Scan() {
		p := &Package{}
		for _, f := range sc.Record().Fields {
			known, err := set(p, f.Key, f.Value, f.Line)
			if err != nil {
				return nil, err
			}
			if !known {
				p.Extra = append(p.Extra, Field{Key: f.Key, Value: f.Value})
			}
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		if fe, ok := errors.AsType[*apkdb.FormatError](err); ok {
			return nil, &FormatError{What: what, Line: fe.Line, Msg: fe.Msg}
		}
		return nil, err
	}
	return out, nil
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
