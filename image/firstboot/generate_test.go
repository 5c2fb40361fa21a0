package firstboot

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// The committed agent programs are exactly what `go generate` builds from
// internal/agentprog with this toolchain: nobody ships a binary that the
// source does not make.
func TestEmbeddedAgentIsReproducible(t *testing.T) {
	goBin := testtool.Require(t, "go")
	src, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	embedded := map[string][]byte{"firstboot-linux-amd64": agentAMD64, "firstboot-linux-arm64": agentARM64}
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
		out := ""
		for i, a := range args {
			if a == "LDFLAGS" {
				args[i] = "-ldflags=-s -w -buildid="
			}
			if i > 0 && args[i-1] == "-o" {
				out = a
				args[i] = filepath.Join(t.TempDir(), a)
			}
		}
		cmd := exec.Command(goBin, args...)
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, b)
		}
		built, err := os.ReadFile(args[indexOf(args, "-o")+1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(built, embedded[out]) {
			t.Errorf("%s differs from a fresh build (%d vs %d bytes): run `go generate ./image/firstboot` and commit", out, len(embedded[out]), len(built))
		}
	}
	if n != 2 {
		t.Fatalf("found %d go:generate lines, want 2", n)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
