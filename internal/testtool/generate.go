package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CheckGenerated runs every `//go:generate env … go build … -o NAME …` line
// of the file generate (in the test's package directory) into a temporary
// directory and fails tb unless each output equals embedded[NAME], the bytes
// the package ships: nobody commits a binary its source does not make. It
// also fails unless it found exactly len(embedded) such lines; pkg names the
// package in the hint to regenerate.
func CheckGenerated(tb testing.TB, pkg, generate string, embedded map[string][]byte) {
	tb.Helper()
	goBin := Require(tb, "go")
	src, err := os.ReadFile(generate)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(src), "\n") {
		rest, ok := strings.CutPrefix(line, "//go:generate env ")
		if !ok {
			continue
		}
		n++
		fields := strings.Fields(strings.ReplaceAll(rest, `"-ldflags=-s -w -buildid="`, "LDFLAGS"))
		var env, args []string
		for i, f := range fields {
			if f == "go" {
				args = fields[i+1:]
				break
			}
			env = append(env, f)
		}
		out, outPath := "", ""
		for i, a := range args {
			if a == "LDFLAGS" {
				args[i] = "-ldflags=-s -w -buildid="
			}
			if i > 0 && args[i-1] == "-o" {
				out, outPath = a, filepath.Join(tb.TempDir(), a)
				args[i] = outPath
			}
		}
		if out == "" {
			tb.Fatalf("%s: go:generate line without -o: %s", generate, line)
		}
		cmd := exec.Command(goBin, args...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("go %v: %v\n%s", args, err, b)
		}
		built, err := os.ReadFile(outPath)
		if err != nil {
			tb.Fatal(err)
		}
		want, ok := embedded[out]
		if !ok {
			tb.Errorf("%s builds %s, which the package does not embed", generate, out)
		} else if !bytes.Equal(built, want) {
			tb.Errorf("%s differs from a fresh build (%d vs %d bytes): run `go generate %s` and commit", out, len(want), len(built), pkg)
		}
	}
	if n != len(embedded) {
		tb.Fatalf("found %d go:generate lines in %s, want %d", n, generate, len(embedded))
	}
}
