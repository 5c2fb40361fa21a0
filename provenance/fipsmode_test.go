package provenance

import (
	"context"
	"crypto/fips140"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/vm"
)

// signAndVerify is the whole key path: generate, sign provenance and SBOM,
// verify under the default policy.
func signAndVerify(t *testing.T) {
	s := signBuild(t, testLock(vm.Wolfi, 3))
	if _, err := Verify(context.Background(), s.arts[0], s.provenance, nil, s.trusted, s.sbom); err != nil {
		t.Fatal(err)
	}
}

// TestFIPS140 runs the key path in child processes with the Go FIPS 140-3
// module on (fips140=on) and enforced (fips140=only: non-approved algorithms
// fail). The SDK's own crypto is ECDSA P-256 with SHA-256 from the module's
// DRBG, so both must pass. (make test also runs the whole package with
// GODEBUG=fips140=on.)
func TestFIPS140(t *testing.T) {
	if mode := os.Getenv("HARDVM_FIPS_CHILD"); mode != "" {
		if !fips140.Enabled() {
			t.Fatalf("GODEBUG=fips140=%s but crypto/fips140 is not enabled", mode)
		}
		signAndVerify(t)
		t.Log("fips140 child: sign and verify ok")
		return
	}
	if fips140.Enabled() {
		signAndVerify(t) // already in FIPS mode (make test's second run)
	}
	for _, mode := range []string{"on", "only"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestFIPS140$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "GODEBUG=fips140="+mode, "HARDVM_FIPS_CHILD="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "fips140 child: sign and verify ok") {
				t.Fatalf("fips140=%s: %v\n%s", mode, err, out)
			}
		})
	}
}
