package vdisk_test

import (
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
)

func TestRaw(t *testing.T) { vdisktest.Run(t, vdisk.Raw{}) }
