package verity

import (
	"bytes"
	"context"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/internal/sparse"
)

// tree computes a hash tree. Workers hash the data under runs of
// consecutive leaf hash blocks (jobs), one per core; a single collector
// takes the jobs' leaf blocks in order, builds the upper levels as their
// digests arrive (the levels are pipelined: no level waits for the one
// below to finish) and hands every level's blocks to emit in batches.
// Memory is a few jobs' buffers and one hash block per level, whatever the
// size of the data.
type tree struct {
	*geometry
	o    options
	ext  []sparse.Extent // data extents; nil means "all data"
	emit func(level int, first uint64, blocks []byte) error

	zeroDigest     []byte // H(salt || zero data block)
	zeroLeafBlock  []byte // a leaf hash block of zero-block digests
	zeroLeafDigest []byte // H(salt || zeroLeafBlock)
}

// emitBatch bounds the bytes of one level that the collector gathers before
// it calls emit: the tree is written (or read back by Verify) in a few
// large calls rather than one per hash block.
const emitBatch = 256 << 10

// jobWindow bounds the memory of the jobs in flight (their leaf hash blocks
// and digests), and maxJobsAhead their number: with the default chunk, 64
// jobs of 2 MiB of data, 1 MiB of leaf blocks.
const (
	jobWindow    = 2 << 20
	maxJobsAhead = 64
)

// hasher computes H(salt || b) without allocating.
type hasher struct {
	h    hash.Hash
	salt []byte
	sum  []byte
}

func (t *tree) newHasher() *hasher {
	h := t.newHash()
	return &hasher{h: h, salt: t.p.Salt, sum: make([]byte, 0, h.Size())}
}

// digest returns H(salt || b) in x.sum (valid until the next call).
func (x *hasher) digest(b []byte) []byte {
	x.h.Reset()
	x.h.Write(x.salt)
	x.h.Write(b)
	x.sum = x.h.Sum(x.sum[:0])
	return x.sum
}

func newTree(g *geometry, o options) *tree {
	t := &tree{geometry: g, o: o}
	x := t.newHasher()
	t.zeroDigest = bytes.Clone(x.digest(make([]byte, g.p.DataBlockSize)))
	t.zeroLeafBlock = make([]byte, g.p.HashBlockSize)
	for i := 0; i < g.perBlock; i++ {
		copy(t.zeroLeafBlock[i*g.digestFull:], t.zeroDigest)
	}
	t.zeroLeafDigest = bytes.Clone(x.digest(t.zeroLeafBlock))
	return t
}

// job is the work of one leaf job and, once done, its result: the leaf
// hash blocks [first, first+count) and their digests.
type job struct {
	index   uint64
	first   uint64
	count   int
	bytes   int64 // data bytes covered
	blocks  []byte
	digests []byte
}

// run computes the whole tree from data and returns the root hash.
func (t *tree) run(ctx context.Context, data io.ReaderAt) (RootHash, error) {
	if t.levels == 0 {
		// One data block: no tree, the root is the block's digest.
		b := make([]byte, t.p.DataBlockSize)
		if err := t.readData(data, b, 0); err != nil {
			return nil, err
		}
		t.o.progress.Progress("verity", int64(len(b)), int64(len(b)))
		return RootHash(bytes.Clone(t.newHasher().digest(b))), nil
	}
	n := t.levelSize[0]
	perJob := uint64(max(1, t.o.chunk/(t.perBlock*t.p.DataBlockSize)))
	jobs := (n + perJob - 1) / perJob
	workers := int(min(uint64(t.o.workers), jobs))
	// Each job in flight holds one of these, from its start until the
	// collector has taken it. The collector takes jobs in order, so a
	// worker that the system stops for a while (the cores are shared)
	// holds the others up once they have finished inFlight jobs past its
	// own: many small buffers, up to jobWindow bytes, let them go on.
	jobBytes := perJob * uint64(t.p.HashBlockSize+t.digestSize)
	inFlight := int(min(jobs, max(uint64(2*workers), min(maxJobsAhead, jobWindow/jobBytes))))
	free := make(chan *job, inFlight)
	for range inFlight {
		free <- &job{
			blocks:  make([]byte, int(perJob)*t.p.HashBlockSize),
			digests: make([]byte, int(perJob)*t.digestSize),
		}
	}
	done := make(chan *job, inFlight)
	var mr *mapReader
	if f, base := mappable(data, int64(t.p.DataBlocks)*int64(t.p.DataBlockSize)); f != nil {
		// A file that cannot be mapped (opened write-only, say) is read.
		if m, err := newMapReader(f, base, int64(t.p.DataBlocks)*int64(t.p.DataBlockSize)); err == nil {
			mr = m
			defer mr.close()
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	var next uint64
	var nextMu sync.Mutex
	for range workers {
		g.Go(func() error {
			w := t.newWorker(data, mr)
			if mr != nil {
				// A mapped file that shrinks under us faults: the
				// worker turns it into an error (catchFault).
				defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			}
			for {
				var j *job
				select {
				case j = <-free:
				case <-gctx.Done():
					return gctx.Err()
				}
				// Jobs are numbered in the order buffers are taken, so
				// the job the collector waits for always holds one.
				nextMu.Lock()
				j.index = next
				next++
				nextMu.Unlock()
				if j.index >= jobs {
					free <- j
					return nil
				}
				j.first = j.index * perJob
				j.count = int(min(perJob, n-j.first))
				if err := w.leafJob(j); err != nil {
					return err
				}
				done <- j // never blocks: at most inFlight jobs exist
			}
		})
	}
	var root []byte
	g.Go(func() error {
		b := t.newBuilder()
		total := int64(t.p.DataBlocks) * int64(t.p.DataBlockSize)
		var hashed, reported int64
		t.o.progress.Progress("verity", 0, total)
		pending := make([]*job, inFlight)
		for c := uint64(0); c < jobs; {
			j := pending[c%uint64(inFlight)]
			if j == nil || j.index != c {
				select {
				case j = <-done:
					pending[j.index%uint64(inFlight)] = j
					continue
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			pending[c%uint64(inFlight)] = nil
			if err := b.leaves(j); err != nil {
				return err
			}
			hashed += j.bytes
			free <- j
			c++
			if hashed-reported >= total/100 || hashed == total {
				reported = hashed
				t.o.progress.Progress("verity", hashed, total)
			}
		}
		var err error
		root, err = b.finish()
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return RootHash(root), nil
}

// builder is the collector's state: the hash block being filled at each
// upper level and the batch of blocks of each level not yet emitted.
type builder struct {
	t    *tree
	x    *hasher
	cur  [][]byte // level >= 1: the block being filled
	fill []int    // digests in cur[level]
	out  []batch
	root []byte
}

// batch gathers consecutive blocks of one level for one emit call.
type batch struct {
	level int
	next  uint64 // index within the level of buf's first block
	buf   []byte
}

func (t *tree) newBuilder() *builder {
	b := &builder{t: t, x: t.newHasher(), cur: make([][]byte, t.levels), fill: make([]int, t.levels), out: make([]batch, t.levels)}
	hbs := uint64(t.p.HashBlockSize)
	for l := range t.levels {
		if l > 0 {
			b.cur[l] = make([]byte, hbs)
		}
		blocks := max(1, min(t.levelSize[l], emitBatch/hbs))
		b.out[l] = batch{level: l, buf: make([]byte, 0, blocks*hbs)}
	}
	return b
}

func (o *batch) add(t *tree, blocks []byte) error {
	if len(o.buf)+len(blocks) > cap(o.buf) {
		if err := o.flush(t); err != nil {
			return err
		}
	}
	if len(blocks) >= cap(o.buf) {
		if err := t.emit(o.level, o.next, blocks); err != nil {
			return err
		}
		o.next += uint64(len(blocks) / t.p.HashBlockSize)
		return nil
	}
	o.buf = append(o.buf, blocks...)
	return nil
}

func (o *batch) flush(t *tree) error {
	if len(o.buf) == 0 {
		return nil
	}
	if err := t.emit(o.level, o.next, o.buf); err != nil {
		return err
	}
	o.next += uint64(len(o.buf) / t.p.HashBlockSize)
	o.buf = o.buf[:0]
	return nil
}

// leaves takes the next job's leaf blocks, in order.
func (b *builder) leaves(j *job) error {
	if err := b.out[0].add(b.t, j.blocks[:j.count*b.t.p.HashBlockSize]); err != nil {
		return err
	}
	ds := b.t.digestSize
	for i := range j.count {
		if err := b.push(1, j.digests[i*ds:(i+1)*ds]); err != nil {
			return err
		}
	}
	return nil
}

// push adds the digest of a block of level-1 to level; above the top level
// it is the root.
func (b *builder) push(level int, d []byte) error {
	if level == b.t.levels {
		b.root = bytes.Clone(d)
		return nil
	}
	copy(b.cur[level][b.fill[level]*b.t.digestFull:], d)
	b.fill[level]++
	if b.fill[level] == b.t.perBlock {
		return b.close(level)
	}
	return nil
}

// close completes the block being filled at level (zero-padded) and pushes
// its digest up.
func (b *builder) close(level int) error {
	blk := b.cur[level]
	if err := b.out[level].add(b.t, blk); err != nil {
		return err
	}
	d := b.x.digest(blk)
	clear(blk)
	b.fill[level] = 0
	return b.push(level+1, d)
}

// finish closes the partial blocks from the bottom up, emits what is left
// and returns the root.
func (b *builder) finish() ([]byte, error) {
	for l := 1; l < b.t.levels; l++ {
		if b.fill[l] > 0 {
			if err := b.close(l); err != nil {
				return nil, err
			}
		}
	}
	for l := range b.out {
		if err := b.out[l].flush(b.t); err != nil {
			return nil, err
		}
	}
	if b.root == nil {
		return nil, fmt.Errorf("verity: internal error: the tree has no root") // geometry and jobs disagree
	}
	return b.root, nil
}

// worker is the per-goroutine state of the leaf workers.
type worker struct {
	t *tree
	x *hasher
	r reader
}

// newWorker returns a worker that views the data through m if it is not
// nil, and reads data otherwise.
func (t *tree) newWorker(data io.ReaderAt, m *mapReader) *worker {
	w := &worker{t: t, x: t.newHasher()}
	if m != nil {
		w.r = m
	} else {
		w.r = &preadReader{t: t, data: data}
	}
	return w
}

// leafJob hashes the data under leaf hash blocks [j.first, j.first+j.count)
// into j.blocks and their digests into j.digests.
func (w *worker) leafJob(j *job) (err error) {
	t := w.t
	dbs := int64(t.p.DataBlockSize)
	dataFirst := j.first * uint64(t.perBlock)
	dataN := min(uint64(j.count)*uint64(t.perBlock), t.p.DataBlocks-dataFirst)
	off, size := int64(dataFirst)*dbs, int64(dataN)*dbs
	j.bytes = size
	ext := t.extentsIn(off, size)
	var buf []byte
	if ext == nil || len(ext) > 0 {
		b, release, verr := w.r.view(off, size, ext)
		if verr != nil {
			return verr
		}
		defer release()
		defer catchFault(&err, off) // the named result, not a shadow
		buf = b
	}
	// ext: the extents within the job, relative to off; nil means all
	// data, empty means all hole (buf is nil then).
	e := 0
	hbs, ds := t.p.HashBlockSize, t.digestSize
	for b := range j.count {
		blk := j.blocks[b*hbs : (b+1)*hbs]
		lo := b * t.perBlock
		hi := min(lo+t.perBlock, int(dataN))
		if buf == nil && hi-lo == t.perBlock {
			copy(blk, t.zeroLeafBlock)
			copy(j.digests[b*ds:], t.zeroLeafDigest)
			continue
		}
		clear(blk)
		zeros := 0
		for i := lo; i < hi; i++ {
			bo := int64(i) * dbs
			for ext != nil && e < len(ext) && ext[e].End() <= bo {
				e++
			}
			hole := ext != nil && (e == len(ext) || ext[e].Offset >= bo+dbs)
			var sum []byte
			if hole || sparse.IsZero(buf[bo:bo+dbs]) {
				sum = t.zeroDigest
				zeros++
			} else {
				sum = w.x.digest(buf[bo : bo+dbs])
			}
			copy(blk[(i-lo)*t.digestFull:], sum)
		}
		if zeros == t.perBlock {
			copy(j.digests[b*ds:], t.zeroLeafDigest)
		} else {
			copy(j.digests[b*ds:], w.x.digest(blk))
		}
	}
	return nil
}

// extentsIn returns the data extents within [off, off+size), relative to
// off: nil if every byte may be data, empty if all of it is a hole.
func (t *tree) extentsIn(off, size int64) []sparse.Extent {
	if t.ext == nil {
		return nil
	}
	end := off + size
	i := sort.Search(len(t.ext), func(i int) bool { return t.ext[i].End() > off })
	out := []sparse.Extent{}
	for ; i < len(t.ext) && t.ext[i].Offset < end; i++ {
		lo, hi := max(t.ext[i].Offset, off), min(t.ext[i].End(), end)
		out = append(out, sparse.Extent{Offset: lo - off, Length: hi - lo})
	}
	return out
}

// reader gives a worker the bytes of a job's data.
type reader interface {
	// view returns the size bytes of data at off, with zeros (or
	// anything: the caller does not look) outside ext, relative to off,
	// unless ext is nil. release ends the view.
	view(off, size int64, ext []sparse.Extent) (b []byte, release func(), err error)
}

// preadReader reads the data extents into a buffer of the worker's.
type preadReader struct {
	t    *tree
	data io.ReaderAt
	buf  []byte
}

func (r *preadReader) view(off, size int64, ext []sparse.Extent) ([]byte, func(), error) {
	if int64(cap(r.buf)) < size {
		r.buf = make([]byte, size)
	}
	b := r.buf[:size]
	if ext == nil {
		return b, func() {}, r.t.readData(r.data, b, off)
	}
	for _, e := range ext {
		if err := r.t.readData(r.data, b[e.Offset:e.End()], off+e.Offset); err != nil {
			return nil, nil, err
		}
	}
	return b, func() {}, nil
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
