package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"testing"
)

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkJSON fails t unless out (one or more JSON values) follows the
// convention of every --json output: snake_case keys, no null (an empty
// list is []). Keys under the objects named in free (maps keyed by data,
// such as labels) are not checked.
func checkJSON(t *testing.T, what, out string, free ...string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	n := 0
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", what, err, out)
		}
		n++
		walkJSON(t, what, "$", v, free)
	}
	if n == 0 {
		t.Errorf("%s: no JSON output", what)
	}
}

func walkJSON(t *testing.T, what, path string, v any, free []string) {
	t.Helper()
	switch v := v.(type) {
	case nil:
		t.Errorf("%s: %s is null (empty lists are [], absent objects are left out)", what, path)
	case []any:
		for _, x := range v {
			walkJSON(t, what, path+"[]", x, free)
		}
	case map[string]any:
		for k, x := range v {
			if !snakeKey.MatchString(k) && !freeKeys(path, free) {
				t.Errorf("%s: key %s.%s is not snake_case", what, path, k)
			}
			walkJSON(t, what, path+"."+k, x, free)
		}
	}
}

func freeKeys(path string, free []string) bool {
	for _, f := range free {
		if regexp.MustCompile(`\.` + regexp.QuoteMeta(f) + `$`).MatchString(path) {
			return true
		}
	}
	return false
}

// Issue 19, bug 7: one JSON convention everywhere.
func TestJSONConvention(t *testing.T) {
	for _, args := range [][]string{
		{"variants", "--json"},
		{"platforms", "--json"},
		{"plan", "--json", "--fleet", "testdata/fleet.json", "--target", "base/aws/x86_64/stable:20261123.000000.0"},
		{"spec", "validate", "--json", "../../vm/testdata/valid/base-aws.yaml", "../../vm/testdata/invalid/mixed.yaml"},
	} {
		_, out, _ := runCLI(t, args...)
		checkJSON(t, args[0], out)
	}
	// A value with nil lists, nil pointers and a nil map inside.
	type inner struct {
		List []string `json:"list"`
	}
	var b bytes.Buffer
	v := struct {
		A []int            `json:"a"`
		B *inner           `json:"b,omitempty"`
		C []inner          `json:"c"`
		D map[string]inner `json:"d"`
		E any              `json:"e"`
		F []byte           `json:"f"`
		G map[string][]int `json:"g"`
	}{C: []inner{{}}, D: map[string]inner{"x": {}}, E: inner{}, F: []byte{}, G: map[string][]int{"y": nil}}
	if err := writeJSONOut(&b, v); err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "writeJSONOut", b.String(), "d", "g")
}
