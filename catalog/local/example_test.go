package local_test

import (
	"context"
	"fmt"
	"os"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
)

// Keep a catalog in a directory; a second Store on the same directory (in
// this process or another) sees what the first wrote.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "catalog")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	w, err := local.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	for n := range 3 {
		if _, err := w.Put(ctx, catalogtest.NewEntry("nginx/qemu/x86_64/lts", n, 2)); err != nil {
			fmt.Println(err)
			return
		}
	}
	r, _ := local.Open(dir)
	defer r.Close()
	e, err := r.Latest(ctx, catalog.Query{Variant: "nginx"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Ref.Stream(), e.Ref.Version)
	// Output:
	// nginx/qemu/x86_64/lts 20261123.020000.0
}
