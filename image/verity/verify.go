package verity

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// Verify checks data against the hash area in hash (at offset 0, or the
// offset given with [WithHashOffset]) and the expected root hash. It reads
// the parameters from the superblock (see [ReadSuperblock]), recomputes the
// tree in parallel and compares every hash block with the stored one.
//
// A data block whose digest differs from its stored leaf hash gives a
// [*BlockError] for the lowest such block; a stored hash block that differs
// from the one recomputed gives a [*BlockError] for the hash device; a
// consistent tree with another root gives [ErrRootHash]. All of them wrap
// [ErrVerify].
func Verify(ctx context.Context, data io.ReaderAt, hash io.ReaderAt, root RootHash, opts ...Option) error {
	o, err := applyOptions(opts)
	if err != nil {
		return err
	}
	p, err := ReadSuperblock(hash, o.hashOffset)
	if err != nil {
		return err
	}
	g, err := newGeometry(p)
	if err != nil {
		return err
	}
	if len(root) != g.digestSize {
		return fmt.Errorf("%w: %d bytes for %s (want %d)", ErrBadRootHash, len(root), p.HashAlgo, g.digestSize)
	}
	t := newTree(g, o)
	size := int64(p.DataBlocks) * int64(p.DataBlockSize)
	if t.ext, err = dataExtents(data, size); err != nil {
		return fmt.Errorf("verity: data extents: %w", err)
	}
	hbs := int64(p.HashBlockSize)
	// emit runs on one goroutine, each level's blocks in order.
	var bad *BlockError // the lowest failing block found so far
	var scratch []byte
	t.emit = func(level int, first uint64, blocks []byte) error {
		if len(scratch) < len(blocks) {
			scratch = make([]byte, len(blocks))
		}
		stored := scratch[:len(blocks)]
		off := o.hashOffset + int64(g.levelBlock[level]+first)*hbs
		if n, err := hash.ReadAt(stored, off); n != len(stored) {
			return fmt.Errorf("%w: hash level %d block %d at offset %d: %w", ErrShortRead, level, first, off, err)
		}
		if bytes.Equal(stored, blocks) {
			return nil
		}
		e := t.firstDifference(level, first, stored, blocks)
		if bad == nil || e.before(bad) {
			bad = e
		}
		return nil
	}
	o.log.Debug("verity verify", "algo", p.HashAlgo, "data_blocks", p.DataBlocks, "levels", g.levels)
	got, err := t.run(ctx, data)
	if err != nil {
		return err
	}
	if bad != nil {
		return bad
	}
	if !got.Equal(root) {
		return fmt.Errorf("%w: computed %s, expected %s", ErrRootHash, got, root)
	}
	return nil
}

// firstDifference locates the first differing digest between stored and
// computed hash blocks of level starting at block first. At the leaf level
// a differing digest names the data block it covers.
func (t *tree) firstDifference(level int, first uint64, stored, computed []byte) *BlockError {
	hbs := t.p.HashBlockSize
	for i := 0; i < len(stored); i++ {
		if stored[i] == computed[i] {
			continue
		}
		blk, inBlk := i/hbs, i%hbs
		entry := inBlk / t.digestFull
		if level == 0 && entry < t.perBlock && inBlk%t.digestFull < t.digestSize {
			data := (first+uint64(blk))*uint64(t.perBlock) + uint64(entry)
			if data < t.p.DataBlocks {
				return &BlockError{Device: "data", Level: 0, Block: data, Err: ErrMismatch}
			}
		}
		return &BlockError{Device: "hash", Level: level, Block: t.levelBlock[level] + first + uint64(blk), Err: ErrMismatch}
	}
	return nil
}

// before orders failures: data blocks before hash blocks, then by block.
func (e *BlockError) before(o *BlockError) bool {
	if e.Device != o.Device {
		return e.Device == "data"
	}
	return e.Block < o.Block
}
