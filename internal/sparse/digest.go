package sparse

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
)

// hashChunk is the unit of hashing: one read of data, or one piece of a
// hole between context checks.
const hashChunk = 1 << 20

var zeroChunk = make([]byte, hashChunk)

// SHA256 returns the SHA-256 of the bytes of f from offset 0 to its size.
// It reads only f's data extents, in 1 MiB reads on a goroutine of its own
// so that reading and hashing overlap, and hashes the holes between them
// as the zeros they read as, from memory: a sparse disk costs its hashing,
// not a read of every hole. It checks ctx between chunks, so cancelling it
// over terabytes of holes stops within one.
func SHA256(ctx context.Context, f *os.File) ([]byte, error) {
	h := sha256.New()
	if err := HashFile(ctx, h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// HashFile writes the bytes of f from offset 0 to its size to h, as
// [SHA256] reads them.
func HashFile(ctx context.Context, h hash.Hash, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sparse: %w", err)
	}
	ext, err := Extents(f)
	if err != nil {
		return err
	}
	return hashExtents(ctx, h, f, fi.Size(), ext)
}

// hashExtents hashes [0, size) of r: ext as read, the rest as zeros.
func hashExtents(ctx context.Context, h io.Writer, r io.ReaderAt, size int64, ext []Extent) error {
	type piece struct {
		buf  []byte // data read, or nil for a hole
		hole int64
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan []byte, 3)
	for range cap(free) {
		free <- make([]byte, hashChunk)
	}
	pieces := make(chan piece, cap(free))
	errc := make(chan error, 1)
	go func() {
		defer close(pieces)
		errc <- readPieces(ctx, r, size, ext, free, func(buf []byte, hole int64) bool {
			select {
			case pieces <- piece{buf, hole}:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	for p := range pieces {
		if p.buf != nil {
			h.Write(p.buf)
			free <- p.buf[:cap(p.buf)]
			continue
		}
		for n := p.hole; n > 0 && ctx.Err() == nil; {
			k := min(n, hashChunk)
			h.Write(zeroChunk[:k])
			n -= k
		}
	}
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

// readPieces reads the data of ext from r, in buffers taken from free, and
// sends each, or the length of the hole before it, in order.
func readPieces(ctx context.Context, r io.ReaderAt, size int64, ext []Extent, free chan []byte, send func(buf []byte, hole int64) bool) error {
	var pos int64
	for i := 0; i <= len(ext); i++ {
		e := Extent{Offset: size}
		if i < len(ext) {
			e = ext[i]
		}
		if e.Offset > pos && !send(nil, e.Offset-pos) {
			return ctx.Err()
		}
		pos = e.Offset
		for pos < e.End() {
			var b []byte
			select {
			case b = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			b = b[:min(hashChunk, e.End()-pos)]
			n, err := r.ReadAt(b, pos)
			if n < len(b) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF // the file shrank
				}
				return fmt.Errorf("sparse: read at %d: %w", pos+int64(n), err)
			}
			if !send(b, 0) {
				return ctx.Err()
			}
			pos += int64(n)
		}
	}
	return nil
}
