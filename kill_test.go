package hardvm

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/vm"
)

// killHelperEnv, when set in the environment of this test binary, makes it
// a build process for TestBuildKilledLeavesNothing: it builds the spec in
// the JSON file the variable names into the directory beside it, and exits.
const killHelperEnv = "HARDVM_TEST_KILL_HELPER_SPEC"

func TestMain(m *testing.M) {
	if specPath := os.Getenv(killHelperEnv); specPath != "" {
		os.Exit(killHelper(specPath))
	}
	os.Exit(m.Run())
}

func killHelper(specPath string) int {
	b, err := os.ReadFile(specPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var spec vm.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := Build(context.Background(), spec, WithOutputDir(filepath.Join(filepath.Dir(specPath), "out"))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// leftovers lists what a build keeps only while it runs: half-written
// files in the output directory and the staging of the root file system
// (and its lock) in the cache.
func leftovers(t *testing.T, out string) []string {
	t.Helper()
	var left []string
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			left = append(left, e.Name())
		}
	}
	ents, _ = os.ReadDir(filepath.Join(out, "cache"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "rootfs-") {
			left = append(left, "cache/"+e.Name())
		}
	}
	for _, sub := range []string{"apk", "index"} {
		ents, _ = os.ReadDir(filepath.Join(out, "cache", sub))
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp") {
				left = append(left, "cache/"+sub+"/"+e.Name())
			}
		}
	}
	return left
}

// TestBuildKilledLeavesNothing kills build processes (this test binary,
// re-run as a build) with SIGKILL at random moments, then lets one run to
// the end: that run takes back everything the killed ones left (half-written
// disks, root file system staging) and its build verifies. On the main of
// issue 17 cache/rootfs-* and .disk.raw.tmp-* stayed forever (watched it
// fail: the last run left the killed runs' staging directories).
func TestBuildKilledLeavesNothing(t *testing.T) {
	spec := demoSpec(t, vm.QEMU, vm.FormatQCOW2)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(kill time.Duration) error {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), killHelperEnv+"="+specPath)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill > 0 {
			timer := time.AfterFunc(kill, func() { cmd.Process.Kill() }) // SIGKILL, this child only
			defer timer.Stop()
		}
		err := cmd.Wait()
		if err != nil && kill == 0 {
			return fmt.Errorf("%v: %s", err, stderr.String())
		}
		return nil
	}
	// One whole build first: how long one takes picks the kill moments
	// (nothing is asserted about time).
	start := time.Now()
	if err := run(0); err != nil {
		t.Fatal(err)
	}
	whole := time.Since(start)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	seen := 0
	for i := range 6 {
		at := time.Duration(rng.Int64N(int64(whole))) + time.Millisecond
		if err := run(at); err != nil {
			t.Fatal(err)
		}
		left := leftovers(t, out)
		seen += len(left)
		t.Logf("kill %d at %v of %v: %d left (%v)", i+1, at.Round(time.Millisecond), whole.Round(time.Millisecond), len(left), left)
	}
	if err := run(0); err != nil {
		t.Fatalf("the run after the kills: %v", err)
	}
	if left := leftovers(t, out); len(left) > 0 {
		t.Fatalf("after the kills (%d leftovers seen) the next run left %v", seen, left)
	}
	t.Logf("%d leftovers of killed runs, none after the next run", seen)
}
