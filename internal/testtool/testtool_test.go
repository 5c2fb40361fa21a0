package testtool

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRequireFindsShell(t *testing.T) {
	if p := Require(t, "sh"); p == "" {
		t.Fatal("no path")
	}
	if out := Run(t, "sh", "-c", "echo ok"); out != "ok\n" {
		t.Fatalf("%q", out)
	}
}

func TestExitReturnsTheToolsStatus(t *testing.T) {
	for _, code := range []int{0, 1, 4, 77} {
		out, got := Exit(t, "sh", "-c", fmt.Sprintf("echo verdict; exit %d", code))
		if got != code || out != "verdict\n" {
			t.Errorf("exit %d: got status %d, output %q", code, got, out)
		}
	}
}

// TestExitFailsWithoutAVerdict: a missing tool and a tool killed by a signal
// fail the test; neither is reported as a status a caller could mistake for
// the tool's verdict.
func TestExitFailsWithoutAVerdict(t *testing.T) {
	for name, args := range map[string][]string{
		"hardvm-no-such-oracle": nil,
		"sh":                    {"-c", "kill -9 $$"},
	} {
		rec := &recorder{}
		func() {
			defer rec.stop()
			_, code := Exit(rec, name, args...)
			t.Errorf("%s %v: Exit returned status %d instead of failing", name, args, code)
		}()
		if !rec.failed {
			t.Errorf("%s %v: the test was not failed", name, args)
		}
	}
}

// recorder is a testing.TB whose Fatalf records the failure and stops the
// calling function, as testing.T's does (by panicking with errStop instead of
// runtime.Goexit, so that an Example can recover and go on).
type recorder struct {
	testing.TB // nil: any method not defined here panics
	failed     bool
	skipped    bool
	msg        string
	dir        string // what TempDir returns
}

type stopped struct{}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
}

func (r *recorder) Logf(format string, args ...any) { r.msg = fmt.Sprintf(format, args...) }

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (r *recorder) stop() {
	if v := recover(); v != nil {
		if _, ok := v.(stopped); !ok {
			panic(v)
		}
	}
}

// A test asks for its oracle tools with Require (or runs them with Run or
// Exit). A tool that is missing fails the test at once; it never skips.
func Example() {
	tb := &recorder{}
	fmt.Print(Run(tb, "sh", "-c", "echo the oracle ran"))
	_, status := Exit(tb, "sh", "-c", "exit 3")
	fmt.Println("exit status:", status)
	func() {
		defer tb.stop()
		Require(tb, "hardvm-no-such-oracle")
		fmt.Println("not reached")
	}()
	fmt.Println("failed:", tb.failed, "skipped:", tb.skipped)
	fmt.Println(strings.SplitN(tb.msg, ":", 2)[0])
	// Output:
	// the oracle ran
	// exit status: 3
	// failed: true skipped: false
	// oracle tool "hardvm-no-such-oracle" not found in PATH (run `make deps` to install it)
}

func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	panic(stopped{})
}

func (r *recorder) TempDir() string { return r.dir }

// TestDockerRegistry: the registry answers the distribution API's version
// check and keeps its storage where it was told.
func TestDockerRegistry(t *testing.T) {
	dir := t.TempDir()
	addr := DockerRegistry(t, dir)
	resp, err := http.Get("http://" + addr + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/_catalog: %s, API version %q", resp.Status, resp.Header.Get("Docker-Distribution-Api-Version"))
	}
	if _, err := os.Stat(filepath.Join(dir, "config.yml")); err != nil {
		t.Fatal(err)
	}
}
