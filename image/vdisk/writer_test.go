package vdisk_test

import (
	"errors"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
)

// The formats that patch nothing stream to a plain io.Writer; qcow2 and
// OVA, which write a header last, take only a Destination.
var (
	_ vdisk.StreamWriter = vdisk.Raw{}
	_ vdisk.StreamWriter = vdisk.VHD{}
	_ vdisk.StreamWriter = vdisk.VMDK{}
	_ vdisk.StreamWriter = vdisk.GCE{}
	_ vdisk.Writer       = vdisk.QCOW2{}
	_ vdisk.Writer       = vdisk.OVA{}
)

func TestForFormat(t *testing.T) {
	streams := map[vdisk.Format]bool{vm.FormatRaw: true, vm.FormatVHD: true, vm.FormatVMDK: true, vm.FormatGCE: true}
	for _, f := range vm.DiskFormats() {
		w, err := vdisk.ForFormat(f, false)
		if err != nil {
			t.Fatalf("ForFormat(%q): %v", f, err)
		}
		if w.Format() != f {
			t.Errorf("ForFormat(%q) writes %q", f, w.Format())
		}
		if _, ok := w.(vdisk.StreamWriter); ok != streams[f] {
			t.Errorf("ForFormat(%q) is a StreamWriter: %v, want %v", f, ok, streams[f])
		}
	}
	if w, _ := vdisk.ForFormat(vm.FormatQCOW2, true); w != (vdisk.QCOW2{Compress: true}) {
		t.Errorf("ForFormat(qcow2, compress) = %#v", w)
	}
	if _, err := vdisk.ForFormat("iso", false); !errors.Is(err, vdisk.ErrFormat) {
		t.Errorf("ForFormat(iso) = %v, want ErrFormat", err)
	}
}
