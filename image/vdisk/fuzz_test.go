package vdisk_test

import (
	"bytes"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
)

// head keeps the first and last 64 KiB of a file: the headers, the
// descriptor and the footers, which is all Inspect reads.
func head(b []byte) []byte {
	if len(b) <= 128<<10 {
		return b
	}
	return append(bytes.Clone(b[:64<<10]), b[len(b)-64<<10:]...)
}

func fuzzInspect(f *testing.F, format vdisk.Format, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := vdisk.Inspect(bytes.NewReader(b), int64(len(b)), format)
		if err == nil && (info.VirtualSize < 0 || info.VirtualSize > vdisk.MaxVirtualSize) {
			t.Fatalf("accepted a virtual size of %d", info.VirtualSize)
		}
	})
}

func FuzzInspectQCOW2(f *testing.F) {
	fuzzInspect(f, vm.FormatQCOW2, writeOurs(f, vdisk.QCOW2{ClusterSize: 4096}), []byte("QFI\xfb"))
}

func FuzzInspectVHD(f *testing.F) {
	fuzzInspect(f, vm.FormatVHD, head(writeOurs(f, vdisk.VHD{})), []byte("conectix"))
}

func FuzzInspectVMDK(f *testing.F) {
	fuzzInspect(f, vm.FormatVMDK, head(writeOurs(f, vdisk.VMDK{})), []byte("KDMV"))
}
