package verity

import (
	"context"
	"fmt"
	"io"
)

// Format computes the dm-verity hash tree of the first dataSize bytes of
// data and writes the superblock and the tree to hash, exactly as
// `veritysetup format --salt ... --uuid ...` does with the same parameters:
// the hash area is byte-identical. It returns the root hash.
//
// dataSize must be a multiple of p.DataBlockSize unless p.DataBlocks is
// set. The hash area, [HashSize] bytes, starts at offset 0 of hash, or at
// the offset given with [WithHashOffset]; it is written with a few large
// WriteAt calls from one goroutine. Format streams: its memory is a few
// chunks per worker whatever the data's size, it hashes with one worker
// per core (a regular file's data straight from the page cache, mapped),
// builds the upper levels while the leaves are hashed, and does not read
// the holes of a sparse *os.File (or of a source with an Extents method).
func Format(ctx context.Context, data io.ReaderAt, dataSize int64, hash io.WriterAt, p Params, opts ...Option) (RootHash, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	p, err = p.resolve(dataSize)
	if err != nil {
		return nil, err
	}
	g, err := newGeometry(p)
	if err != nil {
		return nil, err
	}
	t := newTree(g, o)
	if t.ext, err = dataExtents(data, int64(p.DataBlocks)*int64(p.DataBlockSize)); err != nil {
		return nil, fmt.Errorf("verity: data extents: %w", err)
	}
	hbs := int64(p.HashBlockSize)
	t.emit = func(level int, first uint64, blocks []byte) error {
		off := o.hashOffset + int64(g.levelBlock[level]+first)*hbs
		if _, err := hash.WriteAt(blocks, off); err != nil {
			return fmt.Errorf("verity: write hash level %d block %d at offset %d: %w", level, first, off, err)
		}
		return nil
	}
	o.log.Debug("verity format", "algo", p.HashAlgo, "data_blocks", p.DataBlocks, "levels", g.levels,
		"hash_blocks", g.totalBlocks, "workers", o.workers, "sparse", t.ext != nil)
	// The superblock first, in a whole hash block (the rest zero), so that
	// a hash area reused from an old disk holds no stale bytes.
	sb := make([]byte, int64(g.hashStart)*hbs)
	copy(sb, marshalSuperblock(p))
	if _, err := hash.WriteAt(sb, o.hashOffset); err != nil {
		return nil, fmt.Errorf("verity: write superblock at offset %d: %w", o.hashOffset, err)
	}
	root, err := t.run(ctx, data)
	if err != nil {
		return nil, err
	}
	o.log.Debug("verity root hash", "root", root)
	return root, nil
}
