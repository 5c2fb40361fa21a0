package testtool

import (
	"fmt"
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

func Example() {
	// In a test: qemu := testtool.Require(t, "qemu-img") fails the test if
	// qemu-img is missing; it never skips.
	fmt.Println("oracles are required")
	// Output: oracles are required
}
