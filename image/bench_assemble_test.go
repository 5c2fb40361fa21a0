package image_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image"
)

// BenchmarkAssemble assembles a disk with a 64 MiB root of 512 files
// (erofs, ESP, dm-verity, GPT).
func BenchmarkAssemble(b *testing.B) {
	root := fstest.MapFS{}
	for i := range 512 {
		root[fmt.Sprintf("usr/lib/d%02d/f%03d", i%16, i)] = &fstest.MapFile{Mode: 0o644, Data: randBytes(uint64(i), 128<<10)}
	}
	p := filepath.Join(b.TempDir(), "disk.raw")
	b.SetBytes(64 << 20)
	for b.Loop() {
		if _, err := image.Assemble(context.Background(), root, testLayout(), p); err != nil {
			b.Fatal(err)
		}
	}
}
