package vdisk

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// The file-to-file path (copy_file_range, then the UUID from a read-back)
// writes exactly the bytes the streaming path writes.
func TestVHDFastPathSameBytes(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	f, _ := os.Create(raw)
	f.WriteAt(bytes.Repeat([]byte("hardvm"), 200000), 3<<20)
	f.WriteAt(make([]byte, 1<<20), 8<<20) // written zeros: skipped like holes
	f.WriteAt([]byte{1}, 12<<20+5)
	f.Truncate(13<<20 + 77) // not a whole MiB: the VHD rounds up
	f.Close()
	for _, w := range []VHD{{SourceDateEpoch: 1763856000}, {SourceDateEpoch: 1763856000, Seed: "s"}} {
		src, err := OpenFile(raw)
		if err != nil {
			t.Fatal(err)
		}
		fast := filepath.Join(dir, "fast.vhd")
		out, _ := os.Create(fast)
		if err := w.WriteDisk(context.Background(), out, src); err != nil {
			t.Fatal(err)
		}
		out.Close()
		var slow bytes.Buffer
		if err := w.StreamDisk(context.Background(), &slow, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		got, _ := os.ReadFile(fast)
		if !bytes.Equal(got, slow.Bytes()) {
			t.Fatalf("seed %q: fast path differs from the streaming path (%d vs %d bytes)", w.Seed, len(got), slow.Len())
		}
		testtool.Run(t, "qemu-img", "compare", "-f", "raw", "-F", "vpc", raw, fast)
	}
}
