package hardvm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/vm"
)

// TestBuildRefusesLateFailures: what can be known before the disk is
// written stops the build before it is written. A clock past the year 9999
// fails at step spec, before the output directory exists (on the main of
// issue 17 it failed at signing, after the disk was built). Secure Boot
// for an image without a kernel fails at step boot with ErrNotBootable,
// before the disk is assembled (on main the build ended with exit 0 and an
// unsigned, unbootable disk). Watched both fail on main.
func TestBuildRefusesLateFailures(t *testing.T) {
	t.Run("epoch past 9999", func(t *testing.T) {
		spec := planSpec()
		spec.SourceDateEpoch = vm.MaxSourceDateEpoch + 1
		out := filepath.Join(t.TempDir(), "out")
		_, err := Build(t.Context(), spec, WithOutputDir(out))
		var se *StepError
		if !errors.As(err, &se) || se.Step != "spec" || !errors.Is(err, vm.ErrInvalidSpec) {
			t.Fatalf("err = %v, want a spec step error", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the build wrote %s before failing: %v", out, err)
		}
	})
	t.Run("secure boot without a kernel", func(t *testing.T) {
		spec := demoSpec(t, vm.QEMU) // the demo repository's kernels are stand-ins without an image
		cert, key := writeDBKey(t, t.TempDir())
		spec.SecureBoot = &vm.SecureBoot{DBCert: cert, DBKey: key}
		out := t.TempDir()
		_, err := Build(t.Context(), spec, WithOutputDir(out))
		var se *StepError
		if !errors.As(err, &se) || se.Step != "boot" || !errors.Is(err, ErrNotBootable) {
			t.Fatalf("err = %v, want a boot step error: ErrNotBootable", err)
		}
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			if e.Name() != "cache" {
				t.Errorf("the build wrote %s before failing", e.Name())
			}
		}
	})
}
