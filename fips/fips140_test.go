package fips

import (
	"crypto/fips140"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The checks run with Go's own FIPS 140-3 module in FIPS mode: the test
// binary runs its main tests again with GODEBUG=fips140=on and =only (only
// approved algorithms: the MAC check uses HMAC-SHA256 with a 256-bit key).
func TestUnderFIPS140(t *testing.T) {
	if mode := os.Getenv("HARDVM_FIPS140_CHILD"); mode != "" {
		if !fips140.Enabled() {
			t.Fatalf("GODEBUG=fips140=%s did not enable FIPS mode", mode)
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"on", "only"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.count=1", "-test.v",
				"-test.run", "^(TestUnderFIPS140|TestCheckPasses|TestCheckFailures|TestModuleMACMatchesOpenSSL|TestCheckOptions|ExampleCheck)$")
			cmd.Env = append(os.Environ(), "GODEBUG=fips140="+mode, "HARDVM_FIPS140_CHILD="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("tests under GODEBUG=fips140=%s: %v\n%s", mode, err, out)
			}
			for _, want := range []string{"--- PASS: TestUnderFIPS140", "--- PASS: TestCheckFailures", "--- PASS: ExampleCheck"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("fips140=%s: no %q in\n%s", mode, want, out)
				}
			}
		})
	}
}
