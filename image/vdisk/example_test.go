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
	// Raw patches nothing, so it also streams to a plain io.Writer; a
	// qcow2 image needs a destination it can patch.
	w, _ := vdisk.ForFormat("raw", false)
	var raw strings.Builder
	if sw, ok := w.(vdisk.StreamWriter); ok {
		_ = sw.StreamDisk(context.Background(), &raw, src)
	}
	fmt.Println("raw bytes:", raw.Len())
	_, streams := vdisk.Writer(vdisk.QCOW2{}).(vdisk.StreamWriter)
	fmt.Println("qcow2 streams:", streams)
	// Output:
	// qcow2 clusters: 6
	// raw bytes: 1048576
	// qcow2 streams: false
}
