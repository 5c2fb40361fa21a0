package vdisk_test

import (
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
)

func TestQCOW2(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    vdisk.QCOW2
	}{
		{"plain", vdisk.QCOW2{}},
		{"compressed", vdisk.QCOW2{Compress: true}},
		{"cluster=4k", vdisk.QCOW2{ClusterSize: 4096}},
		{"compressed,cluster=2m,level=6", vdisk.QCOW2{ClusterSize: 2 << 20, Compress: true, Level: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) { vdisktest.Run(t, tc.w) })
	}
}
