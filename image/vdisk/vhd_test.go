package vdisk_test

import (
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
)

func TestVHD(t *testing.T) {
	vdisktest.Run(t, vdisk.VHD{})
	t.Run("seeded", func(t *testing.T) { vdisktest.Run(t, vdisk.VHD{Seed: "image-1", SourceDateEpoch: 1700000000}) })
}
