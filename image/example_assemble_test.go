package image_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/vm"
)

func ExampleAssemble() {
	root := fstest.MapFS{
		"etc/os-release": {Mode: 0o644, Data: []byte("ID=demo\n")},
		"usr/bin/init":   {Mode: 0o755, Data: []byte("#!/bin/sh\n")},
	}
	layout := image.Layout{
		Arch:            vm.X86_64,
		ESP:             map[string][]byte{"EFI/BOOT/BOOTX64.EFI": []byte("MZ")},
		Seed:            "example",
		SourceDateEpoch: 1700000000,
	}
	dir, err := os.MkdirTemp("", "assemble-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk, err := image.Assemble(context.Background(), root, layout, filepath.Join(dir, "disk.raw"))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range disk.Partitions {
		fmt.Printf("%-20s %3d MiB\n", p.Name, p.Size>>20)
	}
	// Output:
	// esp                   64 MiB
	// root-x86-64            1 MiB
	// root-x86-64-verity     1 MiB
	// var                   64 MiB
}
