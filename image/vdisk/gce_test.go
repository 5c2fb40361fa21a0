package vdisk_test

import (
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
)

func TestGCE(t *testing.T) { vdisktest.Run(t, vdisk.GCE{SourceDateEpoch: 1700000000}) }
