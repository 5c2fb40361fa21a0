package vm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxSpecSize bounds the spec files ParseSpec reads.
const MaxSpecSize = 1 << 20

// ParseSpec decodes a spec from YAML strictly and validates it. An unknown
// or misspelt field, a value of the wrong type and every problem Validate
// finds are reported together, each as a [*FieldError] with its line.
func ParseSpec(r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSpecSize+1))
	if err != nil {
		return nil, fmt.Errorf("vm: read spec: %w", err)
	}
	if len(data) > MaxSpecSize {
		return nil, fmt.Errorf("%w: spec larger than %d bytes", ErrParse, MaxSpecSize)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty spec", ErrParse)
		}
		return nil, fmt.Errorf("%w: %v", ErrParse, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: a spec file holds one YAML document", ErrParse)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: a spec is a mapping of fields", ErrParse, root.Line)
	}
	lines := map[string]int{}
	var errs []error
	checkFields(root, reflect.TypeFor[Spec](), "", lines, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var s Spec
	if err := root.Decode(&s); err != nil {
		byLine := fieldsByLine(lines)
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				l := lineOf(m)
				errs = append(errs, &FieldError{Field: fieldAt(byLine, l), Line: l, Msg: stripLine(m), Err: ErrParse})
			}
			return nil, errors.Join(errs...)
		}
		l := lineOf(err.Error())
		return nil, &FieldError{Field: fieldAt(byLine, l), Line: l, Msg: stripLine(err.Error()), Err: ErrParse}
	}
	if err := s.Validate(); err != nil {
		annotate(err, lines)
		return &s, err
	}
	return &s, nil
}

// LoadSpec reads and parses the spec file at path; errors name the file.
// Relative file paths in the spec (repository directories, repository
// keys, Secure Boot files) are resolved against the spec file's directory,
// as apko, Packer and compose resolve theirs, never against the working
// directory.
func LoadSpec(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	defer f.Close()
	s, err := ParseSpec(f)
	if s != nil {
		s.ResolvePaths(filepath.Dir(path))
	}
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ResolvePaths makes the spec's relative file paths (repository
// directories and keys that are not URLs, Secure Boot files) relative to
// dir instead of the working directory. URLs and absolute paths are kept.
// [LoadSpec] calls it with the spec file's directory.
func (s *Spec) ResolvePaths(dir string) {
	rel := func(p string) string {
		if p == "" || strings.Contains(p, "://") || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for i := range s.Repositories {
		r := &s.Repositories[i]
		r.URL = rel(r.URL)
		for j := range r.Keys {
			r.Keys[j] = rel(r.Keys[j])
		}
	}
	if s.SecureBoot != nil {
		s.SecureBoot.DBCert = rel(s.SecureBoot.DBCert)
		s.SecureBoot.DBKey = rel(s.SecureBoot.DBKey)
	}
}

// checkFields walks a YAML mapping against a struct type, reporting keys
// that are not fields and recording the line of every field path.
func checkFields(n *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // Decode reports the type error
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
			names = append(names, name)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &FieldError{Field: p, Line: k.Line, Err: ErrUnknown,
					Msg: fmt.Sprintf("unknown field %q%s (fields here: %s)", k.Value, suggest(k.Value, names), strings.Join(names, ", "))})
				continue
			}
			if seen[k.Value] {
				*errs = append(*errs, &FieldError{Field: p, Line: k.Line, Err: ErrParse, Msg: "field given twice"})
				continue
			}
			seen[k.Value] = true
			lines[p] = v.Line
			checkFields(v, ft, p, lines, errs)
		}
	case reflect.Map:
		// The YAML decoder checks a mapping's keys for duplicates in
		// quadratic time: a mapping is bounded before it is decoded.
		if n.Kind == yaml.MappingNode && len(n.Content)/2 > maxLabels {
			*errs = append(*errs, &FieldError{Field: path, Line: n.Line, Err: ErrInvalidSpec,
				Msg: fmt.Sprintf("%d keys, at most %d", len(n.Content)/2, maxLabels)})
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			lines[p] = c.Line
			checkFields(c, t.Elem(), p, lines, errs)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns ` (did you mean "x"?)` for a near miss.
func suggest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(got, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// fieldsByLine returns, for each line, the longest field path whose value
// is on it (the first in byte order among equals): made once, it answers
// every error's question in constant time.
func fieldsByLine(lines map[string]int) map[int]string {
	by := make(map[int]string, len(lines))
	for p, l := range lines {
		if b, ok := by[l]; !ok || len(p) > len(b) || (len(p) == len(b) && p < b) {
			by[l] = p
		}
	}
	return by
}

// fieldAt returns the longest field path whose value is on line l, or
// "spec".
func fieldAt(byLine map[int]string, l int) string {
	if p, ok := byLine[l]; ok {
		return p
	}
	return "spec"
}

func lineOf(msg string) int {
	var n int
	if _, err := fmt.Sscanf(msg, "line %d:", &n); err == nil {
		return n
	}
	return 0
}

func stripLine(msg string) string {
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		return rest
	}
	return msg
}

// annotate sets the Line of each FieldError in err from lines, using the
// longest known prefix of its field path.
func annotate(err error, lines map[string]int) {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var fe *FieldError
		if !errors.As(e, &fe) || fe.Line != 0 {
			continue
		}
		for p := fe.Field; p != ""; p = parent(p) {
			if l, ok := lines[p]; ok {
				fe.Line = l
				break
			}
		}
	}
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// MarshalSpec returns the YAML form of s, with fields in a stable order.
func MarshalSpec(s *Spec) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("vm: marshal spec: %w", err)
	}
	enc.Close()
	return buf.Bytes(), nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
