package vdisk_test

import (
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
)

func TestVMDK(t *testing.T) {
	vdisktest.Run(t, vdisk.VMDK{})
	t.Run("ide,level=9", func(t *testing.T) { vdisktest.Run(t, vdisk.VMDK{AdapterType: "ide", Level: 9, Seed: "x"}) })
}
