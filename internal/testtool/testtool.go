// Package testtool finds the external tools that tests use as oracles. A
// missing oracle fails the test: it never skips, because a test that skips
// proves nothing. `make test` installs them (see .ci/apt-packages).
package testtool

import (
	"os/exec"
	"testing"
)

// Require returns the path of each named tool, failing the test at once if
// one is missing.
func Require(tb testing.TB, names ...string) string {
	tb.Helper()
	var last string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			tb.Fatalf("oracle tool %q not found in PATH (run `make deps` to install it): %v", n, err)
		}
		last = p
	}
	return last
}

// Run runs name with args and fails the test if it exits non-zero; it
// returns combined output.
func Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	Require(tb, name)
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
