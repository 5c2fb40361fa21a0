package bootdisk

import (
	"bytes"
	"context"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/fat"
)

// padded reads b, then zeros up to size.
type padded struct {
	b    []byte
	size int64
}

func (p padded) ReadAt(out []byte, off int64) (int, error) {
	clear(out)
	if off < int64(len(p.b)) {
		copy(out, p.b[off:])
	}
	return len(out), nil
}

type fatImage struct{ b []byte }

func (w *fatImage) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}

const fuzzESPSize = 40 << 20

// FuzzFAT reads a UKI path from arbitrary FAT32 volumes: the fuzzed bytes
// are the start of the volume (boot sector, FATs, first directories), the
// rest reads as zeros. Every outcome is a file or an error, with bounded
// work.
func FuzzFAT(f *testing.F) {
	var img fatImage
	src := fstest.MapFS{"EFI/BOOT/BOOTX64.EFI": {Mode: 0o644, Data: bytes.Repeat([]byte("MZ"), 3000)}}
	if _, err := fat.Write(context.Background(), &img, fuzzESPSize, src, fat.WithEpoch(1)); err != nil {
		f.Fatal(err)
	}
	// The volume's metadata and first clusters lie in its first MiB.
	seed := img.b[:min(len(img.b), 1<<20)]
	if v, err := openFAT32(padded{seed, fuzzESPSize}, fuzzESPSize); err != nil {
		f.Fatal(err)
	} else if file, err := v.open("efi/boot/bootx64.efi", 1<<20); err != nil || file.size != 6000 {
		f.Fatalf("the seed does not hold the loader: %v", err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := openFAT32(padded{b, fuzzESPSize}, fuzzESPSize)
		if err != nil {
			return
		}
		file, err := v.open("EFI/BOOT/BOOTX64.EFI", 1<<20)
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		for off := int64(0); off < file.size; off += int64(len(buf)) {
			if _, err := file.ReadAt(buf, off); err != nil {
				return
			}
		}
	})
}
