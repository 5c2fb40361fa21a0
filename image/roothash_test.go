package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/vm"
)

func TestReadRootHash(t *testing.T) {
	root := fstest.MapFS{
		"etc/os-release": {Data: []byte("ID=test\n"), Mode: 0o644},
		"usr/bin/tool":   {Data: make([]byte, 300<<10), Mode: 0o755},
	}
	path := filepath.Join(t.TempDir(), "disk.raw")
	d, err := Assemble(context.Background(), root, Layout{Arch: vm.X86_64, Seed: "roothash", SourceDateEpoch: 1763856000}, path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadRootHashFile(context.Background(), path)
	if err != nil || got != d.RootHash {
		t.Fatalf("ReadRootHashFile = %s, %v; Assemble said %s", got, err, d.RootHash)
	}
	var rootPart Partition
	for _, p := range d.Partitions {
		if p.Name == "root-x86-64" {
			rootPart = p
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	f.ReadAt(b, rootPart.Offset+1024+7)
	b[0] ^= 0x40
	f.WriteAt(b, rootPart.Offset+1024+7)
	f.Close()
	if _, err := ReadRootHashFile(context.Background(), path); !errors.Is(err, ErrRootHash) {
		t.Fatalf("a flipped root byte: %v, want ErrRootHash", err)
	}
	if _, err := ReadRootHash(context.Background(), nopReaderAt{}, 1<<20); !errors.Is(err, ErrRootHash) {
		t.Fatalf("no GPT: %v", err)
	}
}

type nopReaderAt struct{}

func (nopReaderAt) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}
