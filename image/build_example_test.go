package image_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
)

// ExampleBuild resolves a spec against a signed repository written by
// apktest, installs it and reads the tree.
func ExampleBuild() {
	dir, _ := os.MkdirTemp("", "example-build")
	defer os.RemoveAll(dir)
	repo := apktest.NewRepository(dir+"/repo", "x86_64", apktest.NewKey("example", 7))
	repo.Add(apktest.Package{Name: "hello", Version: "1.0-r0", Files: []apktest.File{
		{Name: "usr/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hello\n")},
	}})
	if err := repo.Write(); err != nil {
		panic(err)
	}
	spec := vm.Spec{
		Arch: vm.X86_64, SourceDateEpoch: 1700000000, Packages: []string{"hello"},
		Repositories: []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}},
	}
	ctx := context.Background()
	lock, err := image.Resolve(ctx, spec)
	if err != nil {
		panic(err)
	}
	root, err := image.Build(ctx, lock, image.WithBuildStagingDir(dir))
	if err != nil {
		panic(err)
	}
	defer root.Close()
	fi, _ := root.Stat("usr/bin/hello")
	fmt.Println(lock.Packages[0].Name, lock.Packages[0].Version, fi.Mode(), fi.Sys().(*image.FileAttr).Package)
	world, _ := fs.ReadFile(root, "etc/apk/world")
	fmt.Printf("%s", world)
	// Output:
	// hello 1.0-r0 -rwxr-xr-x hello
	// hello
}
