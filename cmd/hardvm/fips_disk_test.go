package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/vm"
)

// hardvm fips check reads a raw disk hardvm built: its verified root
// partition passes; the same disk with a flipped root byte is refused.
func TestFIPSCheckRawDisk(t *testing.T) {
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(t.TempDir(), "repo"), vm.X86_64, 1)
	if err != nil {
		t.Fatal(err)
	}
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, FIPS: true, SourceDateEpoch: 1763856000,
		Repositories: []vm.Repository{repo}, Size: 256 << 20}
	out, err := hardvm.Build(context.Background(), spec, hardvm.WithOutputDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	raw := out.Artifacts[0].Path
	code, stdout, stderr := runCLI(t, "fips", "check", raw)
	if code != 0 || !strings.Contains(stdout+stderr, "pass") {
		t.Fatalf("fips check of the raw disk: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var root int64
	for _, p := range out.Disk.Partitions {
		if p.Name == "root-x86-64" {
			root = p.Offset
		}
	}
	f, _ := os.OpenFile(raw, os.O_RDWR, 0)
	f.WriteAt([]byte{0xde, 0xad}, root+1500)
	f.Close()
	if code, _, stderr := runCLI(t, "fips", "check", raw); code != 1 || !strings.Contains(stderr, "root hash") {
		t.Fatalf("tampered disk: exit %d: %s", code, stderr)
	}
}
