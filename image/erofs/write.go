package erofs

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"

	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
)

// Result describes a written image.
type Result struct {
	Size   int64    // bytes of the image (a whole number of blocks)
	Blocks uint32   // 4 KiB blocks
	Inodes uint64   // inodes (hardlinked names share one)
	UUID   [16]byte // volume UUID
}

const magic = 0xE0F5E1E2

const featureCompatSBChecksum = 0x1

// Write writes an EROFS image of src to dst, starting at offset 0, and
// returns its size. dst must read as zeros where Write does not write (a
// new file or a fresh region of one): all-zero blocks are left unwritten
// so that they stay holes. Regular files are read once, streaming, by a
// few workers in parallel; every entry's size must not change meanwhile.
func Write(ctx context.Context, dst io.WriterAt, src fs.FS, opts ...Option) (Result, error) {
	o := defaults()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Result{}, err
		}
	}
	t, err := scan(ctx, src, &o)
	if err != nil {
		return Result{}, err
	}
	metaBlocks, total, err := t.plan()
	if err != nil {
		return Result{}, err
	}
	uuid := o.uuid
	if !o.hasUUID {
		uuid = t.uuid(o.epoch)
	}
	o.log.Debug("erofs: planned", "inodes", len(t.nodes), "meta_blocks", metaBlocks, "blocks", total, "data_bytes", t.data)

	t.last = int64(total) - 1
	if err := t.writeMeta(ctx, dst, src); err != nil {
		return Result{}, err
	}
	if err := t.writeData(ctx, dst, src, &o); err != nil {
		return Result{}, err
	}
	if err := writeSuper(dst, t, uint32(total), uuid, &o); err != nil {
		return Result{}, err
	}
	return Result{Size: int64(total) * blockSize, Blocks: uint32(total), Inodes: uint64(len(t.nodes)), UUID: uuid}, nil
}

// uuid derives a volume UUID from the planned metadata and the epoch.
func (t *tree) uuid(epoch int64) [16]byte {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(epoch))
	h.Write(b[:])
	for _, n := range t.nodes {
		fmt.Fprintf(h, "%s\x00%o %d %d %d %d %s\x00", n.path, n.mode, n.uid, n.gid, n.size, n.nlink, n.target)
		for _, x := range n.xattrs {
			fmt.Fprintf(h, "%d%s=%s\x00", x.index, x.suffix, x.value)
		}
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // RFC 9562 version 8 (custom)
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}

// writeMeta writes the metadata area: every inode with its xattrs and the
// inline tails of directories and symlinks, and the whole blocks of
// directories and symlinks in the data area. Inline tails of regular files
// are written by writeData.
func (t *tree) writeMeta(ctx context.Context, dst io.WriterAt, src fs.FS) error {
	w := bufio.NewWriterSize(io.NewOffsetWriter(dst, metaBlkAddr*blockSize), 1<<20)
	var pos int64 // bytes written into the metadata area
	buf := make([]byte, blockSize+inodeSize+xattrHdrSize+65535*4+4)
	block := make([]byte, blockSize)
	for i, n := range t.nodes {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		start := int64(n.nid) * 32
		if err := writeZeros(w, start-pos); err != nil {
			return err
		}
		pos = start
		encodeInode(buf, n)
		size := inodeSize + n.xsize
		switch n.typ() {
		case sIFDIR:
			groups := direntBlocks(n)
			for j, g := range groups {
				if j < int(n.nblocks) {
					clear(block)
					g.encode(block)
					if err := t.writeBlock(dst, int64(n.blkaddr)+int64(j), block); err != nil {
						return &PathError{Path: n.path, Err: err}
					}
					continue
				}
				tail := buf[size : size+n.tail]
				clear(tail)
				g.encode(tail)
			}
			size += n.tail
		case sIFLNK:
			if n.nblocks > 0 {
				clear(block)
				copy(block, n.target)
				if err := t.writeBlock(dst, int64(n.blkaddr), block); err != nil {
					return &PathError{Path: n.path, Err: err}
				}
			} else {
				copy(buf[size:], n.target)
				size += n.tail
			}
		case sIFREG:
			// The tail comes with the file's data; leave room for it.
			clear(buf[size : size+n.tail])
			size += n.tail
		}
		if _, err := w.Write(buf[:size]); err != nil {
			return fmt.Errorf("erofs: write metadata: %w", err)
		}
		pos += int64(size)
	}
	// Pad the metadata area to a whole block.
	if err := writeZeros(w, (pos+blockSize-1)&^(blockSize-1)-pos); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("erofs: write metadata: %w", err)
	}
	return nil
}

var zeroBlock [blockSize]byte

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, blockSize)
		if _, err := w.Write(zeroBlock[:k]); err != nil {
			return fmt.Errorf("erofs: write metadata: %w", err)
		}
		n -= k
	}
	return nil
}

// writeBlock writes one data block unless it is all zeros and not the
// last block of the image (which gives the image its length).
func (t *tree) writeBlock(dst io.WriterAt, blk int64, b []byte) error {
	if blk != t.last && sparse.IsZero(b) {
		return nil
	}
	_, err := dst.WriteAt(b, blk*blockSize)
	return err
}

// writeData copies every regular file into its planned blocks (and its
// tail into its inode's inline area), several files at a time.
func (t *tree) writeData(ctx context.Context, dst io.WriterAt, src fs.FS, o *options) error {
	var fn progress.Reporter
	if o.progress != nil {
		fn = o.progress
	}
	c := progress.NewCounter(fn, "erofs", t.data)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.workers)
	bufs := make(chan []byte, o.workers)
	for range o.workers {
		bufs <- make([]byte, 256<<10)
	}
	for _, n := range t.nodes {
		if n.typ() != sIFREG || n.size == 0 {
			continue
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			buf := <-bufs
			defer func() { bufs <- buf }()
			if err := t.copyFile(gctx, dst, src, n, buf, c); err != nil {
				return &PathError{Path: n.path, Err: err}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Done()
	return nil
}

func (t *tree) copyFile(ctx context.Context, dst io.WriterAt, src fs.FS, n *node, buf []byte, c *progress.Counter) error {
	f, err := src.Open(n.path)
	if err != nil {
		return err
	}
	defer f.Close()
	body := int64(n.nblocks) * blockSize
	if n.layout == layoutFlatPlain {
		body = int64(n.size)
	}
	off := int64(n.blkaddr) * blockSize
	for done := int64(0); done < body; {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := int(min(int64(len(buf)), body-done))
		if _, err := io.ReadFull(f, buf[:k]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: short read at %d of %d bytes", ErrSizeChanged, done, n.size)
			}
			return err
		}
		for b := 0; b < k; b += blockSize {
			e := min(b+blockSize, k)
			at := off + done + int64(b)
			if at/blockSize != t.last && sparse.IsZero(buf[b:e]) {
				continue
			}
			if _, err := dst.WriteAt(buf[b:e], at); err != nil {
				return err
			}
		}
		done += int64(k)
		c.Add(int64(k))
	}
	if end := off + body; n.layout == layoutFlatPlain && end%blockSize != 0 && end/blockSize == t.last {
		// Pad the image's last block so that the image has its length.
		if _, err := dst.WriteAt(zeroBlock[:blockSize-end%blockSize], end); err != nil {
			return err
		}
	}
	if n.tail > 0 && n.layout == layoutFlatInline {
		tail := buf[:n.tail]
		if _, err := io.ReadFull(f, tail); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: short read in the last %d bytes", ErrSizeChanged, n.tail)
			}
			return err
		}
		if _, err := dst.WriteAt(tail, inodeOffset(n)+int64(inodeSize+n.xsize)); err != nil {
			return err
		}
		c.Add(int64(n.tail))
	}
	var one [1]byte
	if k, _ := io.ReadFull(f, one[:]); k != 0 {
		return fmt.Errorf("%w: more than %d bytes", ErrSizeChanged, n.size)
	}
	return nil
}

// writeSuper writes block 0: 1024 zero bytes, the superblock and its
// checksum.
func writeSuper(dst io.WriterAt, t *tree, total uint32, uuid [16]byte, o *options) error {
	b := make([]byte, blockSize)
	s := b[superOffset:]
	le := binary.LittleEndian
	le.PutUint32(s[0:], magic)
	le.PutUint32(s[8:], featureCompatSBChecksum)
	s[12] = blockBits
	s[13] = 0 // sb_extslots
	le.PutUint16(s[14:], uint16(t.nodes[0].nid))
	le.PutUint64(s[16:], uint64(len(t.nodes)))
	le.PutUint64(s[24:], uint64(o.epoch))
	le.PutUint32(s[32:], 0) // build_time_nsec
	le.PutUint32(s[36:], total)
	le.PutUint32(s[40:], metaBlkAddr)
	le.PutUint32(s[44:], 0) // xattr_blkaddr: no shared xattrs
	copy(s[48:64], uuid[:])
	copy(s[64:80], o.volume)
	// feature_incompat (80) and everything after stay zero.
	sum := ^crc32.Checksum(s, crc32.MakeTable(crc32.Castagnoli))
	le.PutUint32(s[4:], sum)
	if _, err := dst.WriteAt(b, 0); err != nil {
		return fmt.Errorf("erofs: write superblock: %w", err)
	}
	return nil
}
