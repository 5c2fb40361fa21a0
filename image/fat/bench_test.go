package fat_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/fat"
)

// BenchmarkWrite writes 32 MiB in 64 files onto a 256 MiB volume.
func BenchmarkWrite(b *testing.B) {
	src := fstest.MapFS{}
	data := randBytes(1, 512<<10)
	for i := range 64 {
		src[fmt.Sprintf("EFI/d%d/f%02d.efi", i%4, i)] = &fstest.MapFile{Data: data}
	}
	p := filepath.Join(b.TempDir(), "bench.img")
	b.SetBytes(32 << 20)
	for b.Loop() {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fat.Write(context.Background(), f, 256<<20, src); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
