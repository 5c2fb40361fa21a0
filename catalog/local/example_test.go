package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

// Rebuild a damaged index from the entry files (what `hardvm catalog
// repair` does): reads fail until then, and nothing published is lost.
func ExampleStore_Repair() {
	dir, err := os.MkdirTemp("", "catalog")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := local.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for n := range 3 {
		if _, err := s.Put(ctx, catalogtest.NewEntry("nginx/qemu/x86_64/lts", n, 2)); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Damage the index (a disk fault, a stray edit): replace it.
	os.Remove(filepath.Join(dir, "index"))
	os.WriteFile(filepath.Join(dir, "index"), []byte("garbage\n"), 0o644)
	_, err = s.Latest(ctx, catalog.Query{})
	fmt.Println("before:", errors.Is(err, catalog.ErrCorrupt))
	rep, err := s.Repair(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Rewritten, rep.Entries, len(rep.Added))
	e, err := s.Latest(ctx, catalog.Query{})
	fmt.Println("after:", e.Ref.Version, err)
	// Output:
	// before: true
	// true 3 3
	// after: 20261123.020000.0 <nil>
}
