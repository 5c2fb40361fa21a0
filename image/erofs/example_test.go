package erofs_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/erofs"
)

func Example() {
	src := fstest.MapFS{
		"etc/hostname": {Mode: 0o644, Data: []byte("demo\n")},
		"bin/tool":     {Mode: 0o755 | fs.ModeSetuid, Data: make([]byte, 10000)},
		"sbin":         {Mode: fs.ModeSymlink | 0o777, Data: []byte("bin")},
	}
	dir, err := os.MkdirTemp("", "erofs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "root.erofs"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	res, err := erofs.Write(context.Background(), f, src, erofs.WithEpoch(1700000000))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Inodes, "inodes,", res.Size, "bytes")
	// Output: 6 inodes, 16384 bytes
}

func ExampleOpen() {
	src := fstest.MapFS{
		"usr/lib/os-release": {Mode: 0o644, Data: []byte("ID=demo\n")},
		"etc/os-release":     {Mode: fs.ModeSymlink | 0o777, Data: []byte("../usr/lib/os-release")},
	}
	var img writerAtBuffer
	if _, err := erofs.Write(context.Background(), &img, src, erofs.WithEpoch(1700000000)); err != nil {
		log.Fatal(err)
	}
	root, err := erofs.Open(bytes.NewReader(img.b), int64(len(img.b)))
	if err != nil {
		log.Fatal(err)
	}
	b, err := fs.ReadFile(root, "etc/os-release") // follows the symlink
	if err != nil {
		log.Fatal(err)
	}
	target, _ := root.ReadLink("etc/os-release")
	fmt.Printf("%s -> %s: %s", "etc/os-release", target, b)
	// Output: etc/os-release -> ../usr/lib/os-release: ID=demo
}
