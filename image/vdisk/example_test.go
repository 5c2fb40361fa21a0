package vdisk_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/image/vdisk"
)

// A raw disk of 1 MiB with one sector of data, written as a compressed
// qcow2 image: the holes cost nothing.
func Example() {
	data := bytes.Repeat([]byte("x"), 512)
	disk := make([]byte, 1<<20)
	copy(disk[4096:], data)
	src := vdisk.NewSource(bytes.NewReader(disk), int64(len(disk)), []vdisk.Extent{{Offset: 4096, Length: 512}})

	dir, _ := os.MkdirTemp("", "vdisk-example")
	defer os.RemoveAll(dir)
	f, _ := os.Create(filepath.Join(dir, "disk.qcow2"))
	defer f.Close()
	if err := (vdisk.QCOW2{Compress: true}).WriteDisk(context.Background(), f, src); err != nil {
		fmt.Println(err)
		return
	}
	fi, _ := f.Stat()
	// Six 64 KiB clusters: the header, the compressed sector, one L2
	// table, the L1 table, a refcount block and the refcount table.
	fmt.Println("qcow2 clusters:", fi.Size()/65536)
	w, _ := vdisk.ForFormat("raw", false)
	var raw strings.Builder
	_ = w.WriteDisk(context.Background(), &raw, src)
	fmt.Println("raw bytes:", raw.Len())
	// Output:
	// qcow2 clusters: 6
	// raw bytes: 1048576
}
