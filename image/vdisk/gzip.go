package vdisk

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// gzipBlock is the unit of parallel gzip: each block is deflated on its
// own (ending with a sync flush, so blocks concatenate into one deflate
// stream, as pigz does), the CRC and length run over the blocks in order.
const gzipBlock = 1 << 20

// blockWriter cuts a byte stream into blocks and sends each full one.
type blockWriter struct {
	buf  []byte
	pool *pool
	send func([]byte) error
}

func (b *blockWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if b.buf == nil {
			b.buf = b.pool.get()[:0]
		}
		k := copy(b.buf[len(b.buf):cap(b.buf)], p)
		b.buf = b.buf[:len(b.buf)+k]
		p = p[k:]
		n += k
		if len(b.buf) == cap(b.buf) {
			if err := b.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// readFrom appends n bytes of src at off, reading straight into blocks,
// until ctx is done.
func (b *blockWriter) readFrom(ctx context.Context, src Source, off, n int64) error {
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.buf == nil {
			b.buf = b.pool.get()[:0]
		}
		k := min(int64(cap(b.buf)-len(b.buf)), n)
		if err := readFull(src, b.buf[len(b.buf):len(b.buf)+int(k)], off); err != nil {
			return err
		}
		b.buf = b.buf[:len(b.buf)+int(k)]
		off += k
		n -= k
		if len(b.buf) == cap(b.buf) {
			if err := b.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *blockWriter) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	buf := b.buf
	b.buf = nil
	return b.send(buf)
}

type gzipTask struct {
	in  []byte
	out []byte
}

// parallelGzip writes to dst a gzip member (no name, mtime 0) holding the
// stream that fill writes, deflating blocks on workers goroutines. fill's
// context is done when ctx is or when the pipeline fails.
func parallelGzip(ctx context.Context, dst io.Writer, level, workers int, fill func(ctx context.Context, b *blockWriter) error) error {
	hdr := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}
	if level == 1 {
		hdr[8] = 4 // fastest
	} else if level == 9 {
		hdr[8] = 2 // slowest
	}
	if _, err := dst.Write(hdr); err != nil {
		return err
	}
	ins := newPool(gzipBlock, 16)
	outs := newPool(gzipBlock+gzipBlock/16, 16)
	var flaters sync.Pool
	var crc uint32
	var total uint64
	err := ordered(ctx, workers,
		func(ctx context.Context, send func(gzipTask) error) error {
			b := &blockWriter{pool: ins, send: func(in []byte) error { return send(gzipTask{in: in}) }}
			if err := fill(ctx, b); err != nil {
				return err
			}
			return b.flush()
		},
		func(t *gzipTask) error {
			buf := bytes.NewBuffer(outs.get()[:0])
			fw, _ := flaters.Get().(*flate.Writer)
			if fw == nil {
				var err error
				if fw, err = flate.NewWriter(buf, level); err != nil {
					return err
				}
			} else {
				fw.Reset(buf)
			}
			defer flaters.Put(fw)
			if _, err := fw.Write(t.in); err != nil {
				return err
			}
			if err := fw.Flush(); err != nil {
				return err
			}
			t.out = buf.Bytes()
			return nil
		},
		func(t *gzipTask) error {
			crc = crc32.Update(crc, crc32.IEEETable, t.in)
			total += uint64(len(t.in))
			if _, err := dst.Write(t.out); err != nil {
				return err
			}
			ins.put(t.in)
			outs.put(t.out)
			return nil
		})
	if err != nil {
		return err
	}
	// An empty final block with fixed codes ends the deflate stream.
	tail := []byte{0x03, 0x00}
	tail = binary.LittleEndian.AppendUint32(tail, crc)
	tail = binary.LittleEndian.AppendUint32(tail, uint32(total))
	_, err = dst.Write(tail)
	return err
}
