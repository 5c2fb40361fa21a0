// Package testtool finds the external tools that tests use as oracles. A
// missing oracle fails the test: it never skips, because a test that skips
// proves nothing. `make test` installs them (see .ci/apt-packages).
package testtool

import (
	"errors"
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

// Exit runs name with args and returns its combined output and exit status,
// for tests that assert a tool's exact verdict (such as fsck's "errors
// found" status). It fails the test if the tool is missing or does not run
// to an exit status (killed by a signal, not executable): only the tool's
// own verdict is returned, never the absence of one.
func Exit(tb testing.TB, name string, args ...string) (string, int) {
	tb.Helper()
	Require(tb, name)
	out, err := exec.Command(name, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee) && ee.Exited():
		return string(out), ee.ExitCode()
	}
	tb.Fatalf("%s %v did not run to an exit status: %v\n%s", name, args, err, out)
	return string(out), -1
}
