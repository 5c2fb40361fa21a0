package apkdb

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// MaxLine bounds one line of a database; apk-tools caps metadata lines far
// lower, and a longer line is an error, never a reason to read more.
const MaxLine = 1 << 20

// Field is one "K:value" line of a stanza.
type Field struct {
	Key   byte
	Value string
	Line  int // 1-based line in the input
}

// Record is one package's stanza: its name and version, and every field
// (P: and V: included) in input order.
type Record struct {
	Line    int // line of the stanza's first field
	Name    string
	Version string
	Fields  []Field
}

// Scanner reads the records of a database one at a time, like a
// bufio.Scanner: every record has exactly one non-empty name and a
// non-empty version without blanks or control characters (apk-tools reads
// versions its grammar calls invalid, such as 0.99f7, and so does the
// Scanner). A second P: line in a stanza is an error, not a new package: a
// missing blank line must not hide one.
type Scanner struct {
	sc   *bufio.Scanner
	line int
	rec  Record
	err  error
	done bool
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	return &Scanner{sc: sc}
}

// Scan advances to the next record, which [Scanner.Record] then returns.
// It returns false at the end of the input or at the first error, which
// [Scanner.Err] returns.
func (s *Scanner) Scan() bool {
	if s.done {
		return false
	}
	s.rec = Record{Fields: s.rec.Fields[:0]}
	named := false
	for s.sc.Scan() {
		s.line++
		b := s.sc.Bytes()
		if len(b) == 0 {
			if len(s.rec.Fields) == 0 {
				continue
			}
			return s.finish()
		}
		if len(b) < 2 || b[1] != ':' {
			return s.fail(s.line, "want K:value, got "+strconv.Quote(string(b[:min(len(b), 40)])))
		}
		if len(s.rec.Fields) == 0 {
			s.rec.Line = s.line
		}
		f := Field{Key: b[0], Value: string(b[2:]), Line: s.line}
		switch f.Key {
		case 'P':
			if named {
				return s.fail(s.line, "second P: line in package "+strconv.Quote(s.rec.Name)+" (missing blank line?)")
			}
			named, s.rec.Name = true, f.Value
		case 'V':
			s.rec.Version = f.Value
		}
		s.rec.Fields = append(s.rec.Fields, f)
	}
	s.done = true
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return s.fail(s.line+1, "line longer than 1 MiB")
		}
		s.err = err
		return false
	}
	if len(s.rec.Fields) == 0 {
		return false
	}
	return s.finish()
}

// finish checks the record read.
func (s *Scanner) finish() bool {
	r := &s.rec
	if r.Name == "" {
		return s.fail(r.Line, "package without a name (P:)")
	}
	if r.Version == "" || strings.ContainsFunc(r.Version, isSpaceOrControl) {
		return s.fail(r.Line, "package "+r.Name+": bad version "+strconv.Quote(r.Version))
	}
	return true
}

func (s *Scanner) fail(line int, msg string) bool {
	s.err, s.done = &FormatError{Line: line, Msg: msg}, true
	return false
}

// isSpaceOrControl reports the bytes no version holds: blanks and control
// characters (a stray \r would not survive being written back).
func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// Record returns the record Scan read. It and its Fields are valid until
// the next call to Scan.
func (s *Scanner) Record() *Record { return &s.rec }

// Err returns the first error: a [*FormatError], or the reader's.
func (s *Scanner) Err() error { return s.err }
