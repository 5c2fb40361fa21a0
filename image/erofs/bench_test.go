package erofs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/erofs"
)

// BenchmarkWrite writes 64 MiB in 2048 files of 32 KiB into a file.
func BenchmarkWrite(b *testing.B) {
	src := fstest.MapFS{}
	data := randBytes(1, 32<<10)
	for i := range 2048 {
		src[fmt.Sprintf("d%02d/f%04d", i%64, i)] = &fstest.MapFile{Mode: 0o644, Data: data}
	}
	p := filepath.Join(b.TempDir(), "bench.erofs")
	b.SetBytes(64 << 20)
	for b.Loop() {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := erofs.Write(context.Background(), f, src); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
