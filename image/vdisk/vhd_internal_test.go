package vdisk

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// The CHS geometry in our footer follows the VHD specification, which
// rounds the cylinders down; qemu-img rounds them up so that CHS covers the
// disk. For a size that CHS expresses exactly the two agree, so the oracle
// is: take qemu-img's geometry for a size, and our geometry for the exact
// size that geometry describes must be the same (bytes 56-59 of the
// footer).
func TestVHDGeometryMatchesQemu(t *testing.T) {
	testtool.Require(t, "qemu-img")
	dir := t.TempDir()
	for _, size := range []int64{1 << 20, 8 << 20, 100 << 20, 600 << 20, 4 << 30, 40 << 30, 200 << 30} {
		p := filepath.Join(dir, strconv.FormatInt(size, 10)+".vhd")
		testtool.Run(t, "qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic", p, strconv.FormatInt(size, 10))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		qemu := b[56:60]
		exact := int64(qemu[0])<<8 | int64(qemu[1])
		exact *= int64(qemu[2]) * int64(qemu[3]) * 512
		ours := vhdFooter(exact, 0, [16]byte{})[56:60]
		if !bytes.Equal(qemu, ours) {
			t.Errorf("size %d (exact %d): CHS %x, qemu-img writes %x", size, exact, ours, qemu)
		}
	}
}
