package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

func TestConvertAndInspect(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "in.raw")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "raw", raw, "4M")
	f, err := os.OpenFile(raw, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("hardvm"), 1<<20)
	f.Close()
	for _, to := range []string{"qcow2", "vhd", "vmdk"} {
		out := filepath.Join(dir, "out."+to)
		args := []string{"convert", "--to", to, raw, out}
		if to == "qcow2" {
			args = []string{"convert", "--to", to, "--compress", "--digest=false", raw, out}
		}
		if code, _, errs := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		qf := map[string]string{"vhd": "vpc"}[to]
		if qf == "" {
			qf = to
		}
		testtool.Run(t, "qemu-img", "compare", "-f", "raw", "-F", qf, raw, out)
		code, stdout, errs := runCLI(t, "inspect", "--format", to, out)
		if code != 0 || !strings.Contains(stdout, "virtual size: 4194304 bytes") {
			t.Errorf("inspect %s: exit %d\n%s%s", to, code, stdout, errs)
		}
	}
	// A qcow2 with a backing file is refused, naming the field.
	base := filepath.Join(dir, "base.qcow2")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "4M")
	over := filepath.Join(dir, "over.qcow2")
	testtool.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", over)
	if code, _, errs := runCLI(t, "inspect", "--format", "qcow2", over); code != 1 || !strings.Contains(errs, "backing_file_offset") {
		t.Errorf("inspect of a qcow2 with a backing file: exit %d, %s", code, errs)
	}
	// Issue 19, bug 3: a qcow2, VHD or VMDK input is refused by its header,
	// never read as raw; nothing is written.
	for _, in := range []string{"out.qcow2", "out.vhd", "out.vmdk"} {
		garbage := filepath.Join(dir, "garbage-"+in+".vmdk")
		for _, args := range [][]string{
			{"convert", "--to", "vmdk", filepath.Join(dir, in), garbage},
			{"convert", "--from", "raw", "--to", "vmdk", filepath.Join(dir, in), garbage},
		} {
			if code, _, errs := runCLI(t, args...); code != 1 || !strings.Contains(errs, "by its header, not raw") {
				t.Errorf("%v: exit %d, %s; want 1 and the format named", args, code, errs)
			}
			if _, err := os.Stat(garbage); err == nil {
				t.Errorf("%v wrote %s", args, garbage)
			}
		}
	}
	for _, args := range [][]string{
		{"convert", "--from", "qcow2", "--to", "vmdk", filepath.Join(dir, "out.qcow2"), "x"},
		{"convert", "--to", "nope", raw, "x"},
		{"convert", "--to", "vhd", "--compress", raw, "x"},
		{"convert", raw},
		{"inspect", "--format", "raw", raw},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
