package apktest_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/apktest"
)

func Example() {
	dir, _ := os.MkdirTemp("", "apktest")
	defer os.RemoveAll(dir)
	repo := apktest.NewRepository(dir, "x86_64", apktest.NewKey("example", 7))
	repo.Add(apktest.Package{Name: "hello", Version: "1.0-r0", Files: []apktest.File{
		{Name: "usr/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hello\n")},
	}})
	if err := repo.Write(); err != nil {
		panic(err)
	}
	k, _ := apk.LoadKeyring(repo.KeyPath())
	f, _ := os.Open(filepath.Join(dir, "x86_64", "APKINDEX.tar.gz"))
	defer f.Close()
	idx, err := apk.ReadIndex(f, k, repo.URL())
	if err != nil {
		panic(err)
	}
	fmt.Println(idx.Signer, idx.Packages[0].Name, idx.Packages[0].Version)
	// Output: example.rsa.pub hello 1.0-r0
}
