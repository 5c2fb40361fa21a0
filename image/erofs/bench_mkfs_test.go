package erofs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/erofs"
	"github.com/hardvm/hardvm/internal/testtool"
)

// rootfsLikeTree writes a tree shaped like an image root under dir: 4000
// small files (100 B to 16 KiB, most below 4 KiB, as configuration,
// scripts and headers are), 300 medium ones (16 to 256 KiB, libraries) and
// 12 large ones (1 to 8 MiB, the kernel, big binaries), in 200
// directories, with symlinks; about 110 MiB. Content is random: neither
// writer may win by skipping zeros.
func rootfsLikeTree(tb testing.TB, dir string) int64 {
	tb.Helper()
	r := rand.New(rand.NewPCG(22, 3))
	var total int64
	write := func(i int, size int) {
		p := filepath.Join(dir, fmt.Sprintf("d%03d/f%05d", i%200, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		total += int64(size)
	}
	i := 0
	for ; i < 4000; i++ {
		size := 100 + r.IntN(4000)
		if r.IntN(5) == 0 {
			size = 4096 + r.IntN(12<<10)
		}
		write(i, size)
	}
	for ; i < 4300; i++ {
		write(i, 16<<10+r.IntN(240<<10))
	}
	for ; i < 4312; i++ {
		write(i, 1<<20+r.IntN(7<<20))
	}
	for k := range 500 {
		if err := os.Symlink(fmt.Sprintf("../d%03d/f%05d", k%200, k), filepath.Join(dir, fmt.Sprintf("d%03d/l%05d", (k+1)%200, k))); err != nil {
			tb.Fatal(err)
		}
	}
	return total
}

// BenchmarkWriteVsMkfs writes the same rootfs-like tree with our writer
// (os.DirFS source, as image.Build's rootfs is read) and with
// `mkfs.erofs -T` (uncompressed, erofs-utils' default layout), each to a
// fresh file, alternately, and reports mkfs.erofs's time over ours as
// "x-vs-mkfs" (above 1: ours is faster). Both read the tree from the page
// cache after a warm-up of each.
func BenchmarkWriteVsMkfs(b *testing.B) {
	testtool.Require(b, "mkfs.erofs")
	src := filepath.Join(b.TempDir(), "tree")
	total := rootfsLikeTree(b, src)
	out := b.TempDir()
	ours := func() time.Duration {
		p := filepath.Join(out, "ours.erofs")
		os.Remove(p)
		start := time.Now()
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := erofs.Write(context.Background(), f, os.DirFS(src), erofs.WithEpoch(1700000000)); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	theirs := func() time.Duration {
		p := filepath.Join(out, "mkfs.erofs")
		os.Remove(p)
		start := time.Now()
		if o, err := exec.Command("mkfs.erofs", "-T", "1700000000", "--quiet", p, src).CombinedOutput(); err != nil {
			b.Fatalf("mkfs.erofs: %v\n%s", err, o)
		}
		return time.Since(start)
	}
	ours()
	theirs()
	var tOurs, tTheirs time.Duration
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		tOurs += ours()
		b.StopTimer()
		tTheirs += theirs()
		b.StartTimer()
	}
	b.ReportMetric(float64(tTheirs)/float64(tOurs), "x-vs-mkfs")
	b.ReportMetric(float64(tTheirs.Milliseconds())/float64(b.N), "mkfs-ms/op")
}
