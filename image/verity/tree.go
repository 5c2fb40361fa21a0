package verity

import (
	"bytes"
	"context"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/internal/sparse"
)

// tree computes a hash tree level by level. Format writes the blocks it
// produces; Verify compares them with the stored ones. Both go through
// emit, called with the level, the first block index within the level and
// one or more whole hash blocks.
type tree struct {
	*geometry
	o    options
	ext  []sparse.Extent // data extents; nil means "all data"
	emit func(w *worker, level int, first uint64, blocks []byte) error

	zeroDigest     []byte // H(salt || zero data block)
	zeroLeafBlock  []byte // a leaf hash block of zero-block digests
	zeroLeafDigest []byte // H(salt || zeroLeafBlock)
}

// worker is the per-goroutine state: a hash and the buffers of one job.
type worker struct {
	t      *tree
	h      hash.Hash
	data   []byte // data of one job
	blocks []byte // hash blocks of one job
	stored []byte // scratch for Verify
	sum    []byte
}

func (t *tree) newWorker(jobBlocks int) *worker {
	return &worker{
		t:      t,
		h:      t.newHash(),
		data:   make([]byte, jobBlocks*t.perBlock*t.p.DataBlockSize),
		blocks: make([]byte, jobBlocks*t.p.HashBlockSize),
		sum:    make([]byte, 0, t.digestSize),
	}
}

// digest returns H(salt || b) in w.sum (valid until the next call).
func (w *worker) digest(b []byte) []byte {
	w.h.Reset()
	w.h.Write(w.t.p.Salt)
	w.h.Write(b)
	w.sum = w.h.Sum(w.sum[:0])
	return w.sum
}

func newTree(g *geometry, o options) *tree {
	t := &tree{geometry: g, o: o}
	w := &worker{t: t, h: g.newHash()}
	t.zeroDigest = bytes.Clone(w.digest(make([]byte, g.p.DataBlockSize)))
	t.zeroLeafBlock = make([]byte, g.p.HashBlockSize)
	for i := 0; i < g.perBlock; i++ {
		copy(t.zeroLeafBlock[i*g.digestFull:], t.zeroDigest)
	}
	t.zeroLeafDigest = bytes.Clone(w.digest(t.zeroLeafBlock))
	return t
}

// run computes the whole tree from data and returns the root hash.
func (t *tree) run(ctx context.Context, data io.ReaderAt) (RootHash, error) {
	if t.levels == 0 {
		// One data block: no tree, the root is the block's digest.
		w := t.newWorker(0)
		b := make([]byte, t.p.DataBlockSize)
		if err := t.readData(data, b, 0); err != nil {
			return nil, err
		}
		t.o.progress.Progress("verity", int64(len(b)), int64(len(b)))
		return RootHash(bytes.Clone(w.digest(b))), nil
	}
	digests, err := t.leaves(ctx, data)
	if err != nil {
		return nil, err
	}
	w := t.newWorker(0)
	for level := 1; level < t.levels; level++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		digests, err = t.upper(w, level, digests)
		if err != nil {
			return nil, err
		}
	}
	return RootHash(digests), nil
}

// upper builds level from the digests of the blocks of the level below and
// returns the digests of its own blocks.
func (t *tree) upper(w *worker, level int, below []byte) ([]byte, error) {
	n := t.levelSize[level]
	out := make([]byte, 0, int(n)*t.digestSize)
	blk := make([]byte, t.p.HashBlockSize)
	for k := uint64(0); k < n; k++ {
		clear(blk)
		for i := 0; i < t.perBlock && len(below) > 0; i++ {
			copy(blk[i*t.digestFull:], below[:t.digestSize])
			below = below[t.digestSize:]
		}
		if err := t.emit(w, level, k, blk); err != nil {
			return nil, err
		}
		out = append(out, w.digest(blk)...)
	}
	return out, nil
}

// leaves computes the leaf level in parallel: each job covers jobBlocks leaf
// hash blocks (their data is read in one ReadAt) and workers take jobs in
// increasing order. It returns the digests of the leaf hash blocks.
func (t *tree) leaves(ctx context.Context, data io.ReaderAt) ([]byte, error) {
	n := t.levelSize[0]
	perJob := uint64(max(1, t.o.chunk/(t.perBlock*t.p.DataBlockSize)))
	jobs := (n + perJob - 1) / perJob
	digests := make([]byte, int(n)*t.digestSize)
	total := int64(t.p.DataBlocks) * int64(t.p.DataBlockSize)
	var done atomic.Int64
	var lastReport atomic.Int64
	var mu sync.Mutex // serialises progress callbacks
	t.o.progress.Progress("verity", 0, total)
	report := func(d int64) {
		v := done.Add(d)
		if l := lastReport.Load(); (v-l >= total/100 || v == total) && lastReport.CompareAndSwap(l, v) {
			mu.Lock()
			t.o.progress.Progress("verity", v, total)
			mu.Unlock()
		}
	}
	var next atomic.Uint64
	g, ctx := errgroup.WithContext(ctx)
	for range min(uint64(t.o.workers), jobs) {
		g.Go(func() error {
			w := t.newWorker(int(perJob))
			for {
				j := next.Add(1) - 1
				if j >= jobs {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				first := j * perJob
				count := min(perJob, n-first)
				bytesDone, err := w.leafJob(data, first, count, digests[first*uint64(t.digestSize):])
				if err != nil {
					return err
				}
				report(bytesDone)
			}
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return digests, nil
}

// leafJob hashes the data under leaf hash blocks [first, first+count),
// emits the blocks and stores their digests in out. It returns the number
// of data bytes covered.
func (w *worker) leafJob(data io.ReaderAt, first, count uint64, out []byte) (int64, error) {
	t := w.t
	dbs := int64(t.p.DataBlockSize)
	dataFirst := first * uint64(t.perBlock)
	dataN := min(count*uint64(t.perBlock), t.p.DataBlocks-dataFirst)
	buf := w.data[:int64(dataN)*dbs]
	hole, err := t.fill(data, buf, int64(dataFirst)*dbs)
	if err != nil {
		return 0, err
	}
	blocks := w.blocks[:int(count)*t.p.HashBlockSize]
	for b := 0; b < int(count); b++ {
		blk := blocks[b*t.p.HashBlockSize : (b+1)*t.p.HashBlockSize]
		lo := b * t.perBlock
		hi := min(lo+t.perBlock, int(dataN))
		if hole && hi-lo == t.perBlock {
			copy(blk, t.zeroLeafBlock)
			copy(out[b*t.digestSize:], t.zeroLeafDigest)
			continue
		}
		clear(blk)
		zeros := 0
		for i := lo; i < hi; i++ {
			d := buf[int64(i)*dbs : int64(i+1)*dbs]
			var sum []byte
			if hole || sparse.IsZero(d) {
				sum = t.zeroDigest
				zeros++
			} else {
				sum = w.digest(d)
			}
			copy(blk[(i-lo)*t.digestFull:], sum)
		}
		if zeros == t.perBlock {
			copy(out[b*t.digestSize:], t.zeroLeafDigest)
		} else {
			copy(out[b*t.digestSize:], w.digest(blk))
		}
	}
	if err := t.emit(w, 0, first, blocks); err != nil {
		return 0, err
	}
	return int64(dataN) * dbs, nil
}

// fill reads len(buf) bytes of data at off, reading only the data extents
// and zeroing the rest. It reports whether the whole range is a hole (then
// buf is not touched).
func (t *tree) fill(data io.ReaderAt, buf []byte, off int64) (hole bool, err error) {
	if t.ext == nil {
		return false, t.readData(data, buf, off)
	}
	end := off + int64(len(buf))
	i := sort.Search(len(t.ext), func(i int) bool { return t.ext[i].End() > off })
	if i == len(t.ext) || t.ext[i].Offset >= end {
		return true, nil
	}
	pos := off
	for ; i < len(t.ext) && t.ext[i].Offset < end; i++ {
		lo, hi := max(t.ext[i].Offset, off), min(t.ext[i].End(), end)
		clear(buf[pos-off : lo-off])
		if err := t.readData(data, buf[lo-off:hi-off], lo); err != nil {
			return false, err
		}
		pos = hi
	}
	clear(buf[pos-off:])
	return false, nil
}

func (t *tree) readData(data io.ReaderAt, b []byte, off int64) error {
	n, err := data.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: data: read %d bytes at offset %d: %w", ErrShortRead, len(b), off, err)
}

// extenter is a data source that knows where its data lies (as
// vdisk.Source does); everything outside the extents reads as zeros.
type extenter interface {
	Extents() []sparse.Extent
}

// dataExtents returns the data extents of data within [0, size), or nil if
// they are unknown (every block is then read).
func dataExtents(data io.ReaderAt, size int64) ([]sparse.Extent, error) {
	var base int64
	if s, ok := data.(*io.SectionReader); ok {
		outer, off, n := s.Outer()
		if n < size {
			return nil, nil
		}
		data, base = outer, off
	}
	var ext []sparse.Extent
	switch d := data.(type) {
	case extenter:
		ext = d.Extents()
	case *os.File:
		fi, err := d.Stat()
		if err != nil || !fi.Mode().IsRegular() || fi.Size()-base < size {
			return nil, nil // let the reads report a short file
		}
		ext, err = sparse.Extents(d)
		if err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	shifted := make([]sparse.Extent, 0, len(ext))
	for _, e := range ext {
		shifted = append(shifted, sparse.Extent{Offset: e.Offset - base, Length: e.Length})
	}
	out := sparse.Normalize(shifted, size)
	if out == nil {
		out = []sparse.Extent{} // all holes, but known
	}
	return out, nil
}
