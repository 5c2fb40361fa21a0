package vdisk

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/hardvm/hardvm/vm"
)

// Reader is the guest disk inside a disk file, read in place: ReadAt
// returns the bytes the guest sees at a guest offset, Size their count. It
// is safe for concurrent use. Its memory is bounded: it holds the top-level
// table (a qcow2 L1 table, a VMDK grain directory: at most 32 MiB, a few
// KiB for disks hardvm writes) and a few recently used second-level tables
// and decoded clusters, never the disk.
type Reader struct {
	format Format
	size   int64
	m      blockMapper
}

// blockMapper reads guest blocks of one format.
type blockMapper interface {
	// blockSize is the guest bytes a block maps.
	blockSize() int64
	// readBlock fills p with the guest bytes [in, in+len(p)) of block idx;
	// the range lies inside the block and inside the disk.
	readBlock(p []byte, idx, in int64) error
}

// Format returns the format of the file the Reader reads.
func (r *Reader) Format() Format { return r.format }

// Size returns the guest disk's size in bytes (its virtual size).
func (r *Reader) Size() int64 { return r.size }

// ReadAt reads the guest bytes at off. Bytes the file does not hold
// (unallocated or zero clusters and grains) read as zeros. A malformed
// table entry or compressed block fails with a [*FieldError].
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vdisk: %s: read at negative offset %d", r.format, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.size-off))
	bs := r.m.blockSize()
	for done := 0; done < n; {
		pos := off + int64(done)
		idx, in := pos/bs, pos%bs
		k := int(min(int64(n-done), bs-in))
		if err := r.m.readBlock(p[done:done+k], idx, in); err != nil {
			return done, err
		}
		done += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Sniff names the format of the disk file r of size bytes by its magic
// numbers: qcow2 ("QFI\xfb" at 0), VMDK ("KDMV" at 0, or a descriptor
// file), VHD ("conectix" in the footer, or in a dynamic VHD's copy of it
// at 0), GCE (gzip) and OVA (a ustar archive). A file that is none of
// these is raw. Sniff reads the first and last 512 bytes and decides
// nothing else: [NewReader] validates.
func Sniff(r io.ReaderAt, size int64) (Format, error) {
	var head, tail [512]byte
	n, err := r.ReadAt(head[:min(size, 512)], 0)
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("vdisk: sniff: %w", err)
	}
	h := head[:n]
	if size >= 512 {
		if _, err := r.ReadAt(tail[:], size-512); err != nil && err != io.EOF {
			return "", fmt.Errorf("vdisk: sniff: %w", err)
		}
	}
	switch {
	case bytes.HasPrefix(h, []byte("QFI\xfb")):
		return vm.FormatQCOW2, nil
	case bytes.HasPrefix(h, []byte("KDMV")), bytes.HasPrefix(h, []byte("# Disk DescriptorFile")):
		return vm.FormatVMDK, nil
	case bytes.HasPrefix(tail[:], []byte("conectix")), bytes.HasPrefix(h, []byte("conectix")):
		return vm.FormatVHD, nil
	case bytes.HasPrefix(h, []byte{0x1f, 0x8b}):
		return vm.FormatGCE, nil
	case len(h) >= 262 && string(h[257:262]) == "ustar":
		return vm.FormatOVA, nil
	}
	return vm.FormatRaw, nil
}

// NewReader opens the disk file r of size bytes, of the given format, for
// reading the guest disk in place: raw, fixed VHD, qcow2 (version 2 or 3,
// deflate-compressed or not), VMDK (streamOptimized or monolithicSparse)
// and OVA (its VMDK member). It validates the headers as [Inspect] does,
// then reads the top-level table; every later read is bounded by the file.
// A dynamic VHD and a GCE tar.gz (a gzip stream, which has no random
// access) fail with [ErrFormat].
func NewReader(r io.ReaderAt, size int64, format Format) (*Reader, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative file size %d", ErrInvalid, size)
	}
	switch format {
	case vm.FormatRaw:
		return &Reader{format: format, size: size, m: rawMapper{r}}, nil
	case vm.FormatVHD:
		info, err := Inspect(r, size, format)
		if err != nil {
			return nil, err
		}
		if info.Subformat != "fixed" {
			return nil, fmt.Errorf("%w: a %s VHD is not read in place (convert it: qemu-img convert -O raw)", ErrFormat, info.Subformat)
		}
		return &Reader{format: format, size: info.VirtualSize, m: rawMapper{r}}, nil
	case vm.FormatQCOW2:
		return newQCOW2Reader(r, size)
	case vm.FormatVMDK:
		return newVMDKReader(r, size, format)
	case vm.FormatOVA:
		return newOVAReader(r, size)
	case vm.FormatGCE:
		return nil, fmt.Errorf("%w: a GCE image is a gzip stream, which is not read in place (extract it: tar -xzf)", ErrFormat)
	}
	return nil, fmt.Errorf("%w: cannot read %q", ErrFormat, format)
}

// Open sniffs the format of the disk file r of size bytes ([Sniff]) and
// opens it with [NewReader].
func Open(r io.ReaderAt, size int64) (*Reader, error) {
	f, err := Sniff(r, size)
	if err != nil {
		return nil, err
	}
	return NewReader(r, size, f)
}

// rawMapper reads a raw disk, or the raw part of a fixed VHD, in one block.
type rawMapper struct{ r io.ReaderAt }

func (rawMapper) blockSize() int64 { return 1 << 62 }

func (m rawMapper) readBlock(p []byte, _, in int64) error {
	n, err := m.r.ReadAt(p, in)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("vdisk: read at %d: %w", in, err)
}

// readHost reads exactly len(p) bytes of the file at off, which must lie
// inside its size.
func readHost(r io.ReaderAt, size int64, p []byte, off int64, f Format, field string) error {
	if off < 0 || off > size || int64(len(p)) > size-off {
		return fieldErr(f, field, off, ErrInvalid, "%d bytes at offset %d lie beyond the end of the %d-byte file", len(p), off, size)
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("vdisk: %s: read %s at %d: %w", f, field, off, err)
}

// lru caches a few decoded tables or blocks by key. Concurrent misses of
// one key may both decode it; the result is the same.
type lru struct {
	mu   sync.Mutex
	max  int
	keys []int64
	vals [][]byte
}

func (c *lru) get(k int64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, key := range c.keys {
		if key == k {
			v := c.vals[i]
			// Most recent first.
			copy(c.keys[1:i+1], c.keys[:i])
			copy(c.vals[1:i+1], c.vals[:i])
			c.keys[0], c.vals[0] = k, v
			return v
		}
	}
	return nil
}

func (c *lru) put(k int64, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) < c.max {
		c.keys = append(c.keys, 0)
		c.vals = append(c.vals, nil)
	}
	copy(c.keys[1:], c.keys[:len(c.keys)-1])
	copy(c.vals[1:], c.vals[:len(c.vals)-1])
	c.keys[0], c.vals[0] = k, v
}
