package image

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hardvm/hardvm/image/gpt"
	"github.com/hardvm/hardvm/image/verity"
	"github.com/hardvm/hardvm/vm"
)

// ErrRootHash reports a raw disk whose dm-verity root hash cannot be read
// or does not hold.
var ErrRootHash = errors.New("image: root hash")

// ReadRootHash reads the dm-verity root hash of a raw disk that [Assemble]
// wrote, and proves it: the GPT is read and validated, the root and
// root-verity partitions are found by their Discoverable Partitions types,
// the root hash is their partition UUIDs put together (the DPS verity
// convention: the first and the last 128 bits of a SHA-256 root hash), and
// the root partition's data is checked against it through its hash tree.
// A disk whose table, data or tree was altered fails with ErrRootHash. A
// SHA-512 root hash cannot be read from the UUIDs alone: that gives an error
// that wraps errors.ErrUnsupported.
func ReadRootHash(ctx context.Context, r io.ReaderAt, size int64) (string, error) {
	_, h, err := OpenRoot(ctx, r, size)
	return h, err
}

// OpenRoot finds and verifies the root partition of a raw disk as
// [ReadRootHash] does and returns its bytes (the erofs image) with the root
// hash that proves them.
func OpenRoot(ctx context.Context, r io.ReaderAt, size int64) (*io.SectionReader, string, error) {
	t, err := gpt.Read(r, size)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrRootHash, err)
	}
	for _, arch := range vm.Arches() {
		types, err := gpt.RootTypesFor(string(arch))
		if err != nil {
			continue
		}
		var root, hash *gpt.Partition
		for i := range t.Partitions {
			p := &t.Partitions[i]
			switch p.Type {
			case types.Root:
				root = p
			case types.Verity:
				hash = p
			}
		}
		if root == nil || hash == nil {
			continue
		}
		sector := int64(t.SectorSize)
		data := io.NewSectionReader(r, int64(root.FirstLBA)*sector, int64(root.Sectors())*sector)
		tree := io.NewSectionReader(r, int64(hash.FirstLBA)*sector, int64(hash.Sectors())*sector)
		sb, err := verity.ReadSuperblock(tree, 0)
		if err != nil {
			return nil, "", fmt.Errorf("%w: verity partition: %w", ErrRootHash, err)
		}
		if sb.HashAlgo != "sha256" {
			return nil, "", fmt.Errorf("%w: a %s root hash is longer than the partition UUIDs hold: %w", ErrRootHash, sb.HashAlgo, errors.ErrUnsupported)
		}
		h := hex.EncodeToString(root.UUID[:]) + hex.EncodeToString(hash.UUID[:])
		rh, err := verity.ParseRootHash(h)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrRootHash, err)
		}
		if err := verity.Verify(ctx, data, tree, rh); err != nil {
			return nil, "", fmt.Errorf("%w: root partition does not match %s: %w", ErrRootHash, h, err)
		}
		return data, h, nil
	}
	return nil, "", fmt.Errorf("%w: no root and root-verity partitions in the GPT", ErrRootHash)
}

// ReadRootHashFile is [ReadRootHash] of the raw disk file at path.
func ReadRootHashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	return ReadRootHash(ctx, f, fi.Size())
}
