package vdisk_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/image/vdisk"
)

// A streamOptimized VMDK read in place: Open sniffs the format from the
// header and ReadAt returns the guest's bytes, holes as zeros.
func ExampleOpen() {
	disk := make([]byte, 1<<20)
	copy(disk[4096:], "hello from the guest")
	src := vdisk.NewSource(bytes.NewReader(disk), int64(len(disk)), []vdisk.Extent{{Offset: 4096, Length: 512}})

	dir, _ := os.MkdirTemp("", "vdisk-example")
	defer os.RemoveAll(dir)
	f, _ := os.Create(filepath.Join(dir, "disk.vmdk"))
	defer f.Close()
	if err := (vdisk.VMDK{}).WriteDisk(context.Background(), f, src); err != nil {
		fmt.Println(err)
		return
	}
	fi, _ := f.Stat()
	r, err := vdisk.Open(f, fi.Size())
	if err != nil {
		fmt.Println(err)
		return
	}
	b := make([]byte, 20)
	_, _ = r.ReadAt(b, 4096)
	hole := make([]byte, 4)
	_, _ = r.ReadAt(hole, 512<<10)
	fmt.Println(r.Format(), r.Size())
	fmt.Printf("%s %v\n", b, hole)
	// Output:
	// vmdk 1048576
	// hello from the guest [0 0 0 0]
}
