package vdisk_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
	"github.com/hardvm/hardvm/internal/testtool"
)

func TestQCOW2(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    vdisk.QCOW2
	}{
		{"plain", vdisk.QCOW2{}},
		{"compressed", vdisk.QCOW2{Compress: true}},
		// 4 KiB clusters: an L2 table covers 2 MiB, so the test disks
		// need several, which go out between the data as it passes them.
		{"cluster=4k", vdisk.QCOW2{ClusterSize: 4096}},
		{"compressed,cluster=4k", vdisk.QCOW2{ClusterSize: 4096, Compress: true}},
		{"compressed,cluster=2m", vdisk.QCOW2{ClusterSize: 2 << 20, Compress: true}},
	} {
		t.Run(tc.name, func(t *testing.T) { vdisktest.Run(t, tc.w) })
	}
}

// Compression compresses: the test disk's text MiB shrinks, and qemu-img
// check counts compressed clusters.
func TestQCOW2Compresses(t *testing.T) {
	plain, packed := writeOurs(t, vdisk.QCOW2{}), writeOurs(t, vdisk.QCOW2{Compress: true})
	if len(packed) >= len(plain)-(512<<10) {
		t.Errorf("compressed qcow2 is %d bytes, plain %d: the compressible MiB did not shrink", len(packed), len(plain))
	}
	p := filepath.Join(t.TempDir(), "c.qcow2")
	if err := os.WriteFile(p, packed, 0o644); err != nil {
		t.Fatal(err)
	}
	out := testtool.Run(t, "qemu-img", "check", p)
	if !strings.Contains(out, "compressed clusters") || strings.Contains(out, " 0.00% compressed clusters") {
		t.Errorf("qemu-img check finds no compressed clusters:\n%s", out)
	}
}
