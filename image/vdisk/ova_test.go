package vdisk_test

import (
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
)

func TestOVA(t *testing.T) {
	vdisktest.Run(t, vdisk.OVA{})
	t.Run("sha1,pvscsi,secureboot", func(t *testing.T) {
		vdisktest.Run(t, vdisk.OVA{Name: "hardvm-1", SHA1: true, Controller: "pvscsi", SecureBoot: true, CPUs: 4, MemoryMiB: 4096})
	})
}
