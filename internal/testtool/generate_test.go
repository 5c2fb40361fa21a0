package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A module whose generate.go builds one program: CheckGenerated accepts the
// bytes a fresh build makes and refuses any other bytes, a missing output
// and a wrong number of go:generate lines.
func TestCheckGenerated(t *testing.T) {
	goBin := Require(t, "go")
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":       "module example.test/gen\n\ngo 1.26\n",
		"prog/main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
		"generate.go":  "package gen\n\n//go:generate env CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS= go build -trimpath -buildvcs=false \"-ldflags=-s -w -buildid=\" -o prog-amd64 ./prog\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	cmd := exec.Command(goBin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", "want", "./prog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	want, err := os.ReadFile("want")
	if err != nil {
		t.Fatal(err)
	}

	CheckGenerated(t, "./gen", "generate.go", map[string][]byte{"prog-amd64": want})

	for name, tc := range map[string]struct {
		embedded map[string][]byte
		msg      string
	}{
		"other bytes":     {map[string][]byte{"prog-amd64": append([]byte{0}, want[1:]...)}, "differs from a fresh build"},
		"not embedded":    {map[string][]byte{"other": want}, "does not embed"},
		"lines not count": {map[string][]byte{"prog-amd64": want, "second": want}, "found 1 go:generate lines"},
	} {
		rec := &recorder{dir: t.TempDir()}
		func() {
			defer rec.stop()
			CheckGenerated(rec, "./gen", "generate.go", tc.embedded)
		}()
		if !rec.failed || !strings.Contains(rec.msg, tc.msg) {
			t.Errorf("%s: failed=%v, message %q, want it to say %q", name, rec.failed, rec.msg, tc.msg)
		}
	}
}
