package vdisk_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// writeOurs writes a small disk with w and returns the file's bytes.
func writeOurs(t testing.TB, w vdisk.Writer) []byte {
	t.Helper()
	dir := t.TempDir()
	d := vdisktest.MakeDisk(t, dir, 4<<20)
	src, err := vdisk.OpenFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(dir, "out")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDisk(context.Background(), f, src); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInspect(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	qemu := func(name string, args ...string) []byte {
		t.Helper()
		p := filepath.Join(dir, name)
		args = append(args, p)
		if args[0] == "create" {
			args = append(args, "64M")
		}
		testtool.Run(t, "qemu-img", args...)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mut := func(b []byte, fn func([]byte)) []byte { c := bytes.Clone(b); fn(c); return c }
	be, le := binary.BigEndian, binary.LittleEndian

	raw := filepath.Join(dir, "src.raw")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "raw", raw, "64M")
	qemu("base.qcow2", "create", "-q", "-f", "qcow2")
	qemu("base.vmdk", "create", "-q", "-f", "vmdk")
	ourQCOW2 := writeOurs(t, vdisk.QCOW2{})
	ourVHD := writeOurs(t, vdisk.VHD{})
	ourVMDK := writeOurs(t, vdisk.VMDK{})

	for _, tc := range []struct {
		name   string
		format vdisk.Format
		file   []byte
		vsize  int64
		sub    string
		err    error
		field  string
	}{
		{"qcow2 v3", vm.FormatQCOW2, qemu("a.qcow2", "create", "-q", "-f", "qcow2"), 64 << 20, "v3", nil, ""},
		{"qcow2 v2", vm.FormatQCOW2, qemu("v2.qcow2", "create", "-q", "-f", "qcow2", "-o", "compat=0.10"), 64 << 20, "v2", nil, ""},
		{"qcow2 ours", vm.FormatQCOW2, ourQCOW2, 4 << 20, "v3", nil, ""},
		{"qcow2 backing", vm.FormatQCOW2, qemu("b.qcow2", "create", "-q", "-f", "qcow2", "-b", filepath.Join(dir, "base.qcow2"), "-F", "qcow2"), 0, "", vdisk.ErrBackingFile, "backing_file_offset"},
		{"qcow2 json backing", vm.FormatQCOW2, qemu("j.qcow2", "create", "-q", "-f", "qcow2", "-u", "-b", `json:{"driver":"file","filename":"/etc/passwd"}`, "-F", "raw"), 0, "", vdisk.ErrBackingFile, "backing_file_offset"},
		{"qcow2 data file", vm.FormatQCOW2, qemu("e.qcow2", "create", "-q", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "d.raw")), 0, "", vdisk.ErrExternalData, "incompatible_features"},
		{"qcow2 absurd size", vm.FormatQCOW2, mut(ourQCOW2, func(b []byte) { be.PutUint64(b[24:], 1<<62) }), 0, "", vdisk.ErrTooLarge, "size"},
		{"qcow2 oversized L1", vm.FormatQCOW2, mut(ourQCOW2, func(b []byte) { be.PutUint32(b[36:], 1<<28) }), 0, "", vdisk.ErrTooLarge, "l1_size"},
		{"qcow2 short L1", vm.FormatQCOW2, mut(ourQCOW2, func(b []byte) { be.PutUint32(b[36:], 0) }), 0, "", vdisk.ErrMismatch, "l1_size"},
		{"qcow2 not qcow2", vm.FormatQCOW2, ourVHD, 0, "", vdisk.ErrInvalid, "magic"},

		{"vhd fixed", vm.FormatVHD, qemu("f.vhd", "create", "-q", "-f", "vpc", "-o", "subformat=fixed"), 0, "fixed", nil, ""},
		{"vhd dynamic", vm.FormatVHD, qemu("d.vhd", "create", "-q", "-f", "vpc"), 0, "dynamic", nil, ""},
		{"vhd ours", vm.FormatVHD, ourVHD, 4 << 20, "fixed", nil, ""},
		{"vhd bad checksum", vm.FormatVHD, mut(ourVHD, func(b []byte) { b[len(b)-512+30] ^= 1 }), 0, "", vdisk.ErrMismatch, "checksum"},
		{"vhd size vs file", vm.FormatVHD, append(bytes.Clone(ourVHD[:len(ourVHD)-1024]), ourVHD[len(ourVHD)-512:]...), 0, "", vdisk.ErrMismatch, "current_size"},

		{"vmdk monolithicSparse", vm.FormatVMDK, qemu("a.vmdk", "create", "-q", "-f", "vmdk"), 64 << 20, "monolithicSparse", nil, ""},
		{"vmdk qemu streamOptimized", vm.FormatVMDK, qemu("s.vmdk", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw), 64 << 20, "streamOptimized", nil, ""},
		{"vmdk ours", vm.FormatVMDK, ourVMDK, 4 << 20, "streamOptimized", nil, ""},
		{"vmdk split", vm.FormatVMDK, qemu("split.vmdk", "create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse"), 0, "", vdisk.ErrExternalData, "header"},
		{"vmdk flat", vm.FormatVMDK, qemu("flat.vmdk", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat"), 0, "", vdisk.ErrExternalData, "header"},
		{"vmdk backing", vm.FormatVMDK, qemu("c.vmdk", "create", "-q", "-f", "vmdk", "-b", filepath.Join(dir, "base.vmdk"), "-F", "vmdk"), 0, "", vdisk.ErrBackingFile, "descriptor.parentCID"},
		{"vmdk footer mismatch", vm.FormatVMDK, mut(ourVMDK, func(b []byte) { le.PutUint64(b[len(b)-1024+12:], 16) }), 0, "", vdisk.ErrMismatch, "footer"},
		{"vmdk foreign extent", vm.FormatVMDK, mut(ourVMDK, func(b []byte) {
			copy(b[512:], bytes.Replace(b[512:1024], []byte(`"disk.vmdk"`), []byte(`"../o.vmdk"`), 1))
		}), 0, "", vdisk.ErrExternalData, "descriptor.extent"},
		{"vmdk json extent", vm.FormatVMDK, mut(ourVMDK, func(b []byte) {
			copy(b[512:], bytes.Replace(b[512:1024], []byte(`"disk.vmdk"`), []byte(`"json:{}.."`), 1))
		}), 0, "", vdisk.ErrExternalData, "descriptor.extent"},
		{"vmdk absurd capacity", vm.FormatVMDK, mut(ourVMDK, func(b []byte) { le.PutUint64(b[12:], 1<<60) }), 0, "", vdisk.ErrTooLarge, "capacity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := vdisk.Inspect(bytes.NewReader(tc.file), int64(len(tc.file)), tc.format)
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if info.Subformat != tc.sub || (tc.vsize != 0 && info.VirtualSize != tc.vsize) {
					t.Errorf("got %+v, want subformat %s, virtual size %d", info, tc.sub, tc.vsize)
				}
				return
			}
			var fe *vdisk.FieldError
			if !errors.Is(err, tc.err) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want %v in field %s", err, tc.err, tc.field)
			}
			if strings.Contains(tc.name, "json") && !strings.Contains(err.Error(), "json:") {
				t.Errorf("error %q does not say json:", err)
			}
		})
	}
	if _, err := vdisk.Inspect(bytes.NewReader(nil), 0, vm.FormatRaw); !errors.Is(err, vdisk.ErrFormat) {
		t.Errorf("Inspect raw: %v, want ErrFormat", err)
	}
}
