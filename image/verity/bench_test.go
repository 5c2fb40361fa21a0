package verity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkFormat hashes a 64 MiB page-cached file of random data (and a
// 64 MiB sparse file that is mostly a hole) with 1 worker and with one per
// core. Compare with `veritysetup format` through scripts/bench-verity.sh.
func BenchmarkFormat(b *testing.B) {
	dir := b.TempDir()
	const blocks = 64 << 20 / 4096
	files := map[string]string{
		"random": makeData(b, filepath.Join(dir), 4096, 1, region{'r', blocks}),
	}
	sparseDir := filepath.Join(dir, "sparse")
	os.Mkdir(sparseDir, 0o755)
	files["sparse"] = makeData(b, sparseDir, 4096, 2, region{'r', blocks / 16}, region{'h', blocks - blocks/16})
	for _, name := range []string{"random", "sparse"} {
		for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/workers=%d", name, workers), func(b *testing.B) {
				f, err := os.Open(files[name])
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				p := Params{Salt: []byte("bench salt"), UUID: testUUID}
				size, _ := HashSize(blocks*4096, p)
				hash := &writerAt{b: make([]byte, size)}
				b.SetBytes(blocks * 4096)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Format(context.Background(), f, blocks*4096, hash, p, WithConcurrency(workers)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerify verifies the tree of 64 MiB of random data.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	const blocks = 64 << 20 / 4096
	data := makeData(b, dir, 4096, 3, region{'r', blocks})
	hash := filepath.Join(dir, "hash")
	root := formatFile(b, data, hash, Params{Salt: []byte("bench")})
	b.SetBytes(blocks * 4096)
	for b.Loop() {
		if err := verifyFile(b, data, hash, root); err != nil {
			b.Fatal(err)
		}
	}
}
