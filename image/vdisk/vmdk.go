package vdisk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// VMDK writes streamOptimized VMDK files, the kind vSphere imports and an
// OVA carries, as VMware's "Virtual Disk Format 5.0" describes them: a
// sparse header whose grain directory is "at end", the embedded
// descriptor, then each grain with data as a marker and its zlib stream
// (compressed on every core), a grain-table marker and table after the
// grains of each table, the grain directory, a footer repeating the header
// with the directory's offset, and the end-of-stream marker. All-zero
// grains and tables are left out. It streams to a plain io.Writer.
type VMDK struct {
	// FileName is the name the descriptor's extent line gives the file;
	// "disk.vmdk" if empty. It must be a plain name (no directories).
	FileName string
	// AdapterType is the descriptor's ddb.adapterType: "lsilogic"
	// (default), "buslogic" or "ide".
	AdapterType string
	// Seed, if set, derives the content IDs and ddb.uuid; otherwise they
	// derive from the size.
	Seed string
	// Level is the deflate level 1-9; 0 means 1 (fastest).
	Level int
	// Workers is the number of compressing goroutines; 0 means GOMAXPROCS.
	Workers int
	// Progress, if set, receives the source bytes done.
	Progress progress.Reporter
}

// Format returns vm.FormatVMDK.
func (VMDK) Format() Format { return vm.FormatVMDK }

// VirtualSize rounds size up to whole sectors.
func (VMDK) VirtualSize(size int64) int64 { return (size + 511) / 512 * 512 }

const (
	vmdkMagic      = 0x564d444b // "KDMV" little-endian
	vmdkGrainSects = 128        // 64 KiB grains
	vmdkGrain      = vmdkGrainSects * 512
	vmdkGTEntries  = 512
	vmdkGTSects    = vmdkGTEntries * 4 / 512
	vmdkOverhead   = 128 // sectors before the first grain
	vmdkGDAtEnd    = ^uint64(0)
	vmdkFlags      = 1 | 1<<16 | 1<<17 // newline test, compressed grains, markers
	vmdkMarkerEOS  = 0
	vmdkMarkerGT   = 1
	vmdkMarkerGD   = 2
	vmdkMarkerFoot = 3
	vmdkMaxSectors = 1<<32 - 1 // grain offsets are 32-bit sector numbers
)

func (w VMDK) params() (name, adapter string, level int, err error) {
	name, adapter, level = w.FileName, w.AdapterType, w.Level
	if name == "" {
		name = "disk.vmdk"
	}
	if strings.ContainsAny(name, "/\\\"\n") {
		return "", "", 0, fmt.Errorf("%w: vmdk file name %q must be a plain name", ErrOption, name)
	}
	if adapter == "" {
		adapter = "lsilogic"
	}
	if adapter != "lsilogic" && adapter != "buslogic" && adapter != "ide" {
		return "", "", 0, fmt.Errorf("%w: vmdk adapter type %q (want lsilogic, buslogic or ide)", ErrOption, adapter)
	}
	if level == 0 {
		level = 1
	}
	if level < 1 || level > 9 {
		return "", "", 0, fmt.Errorf("%w: vmdk deflate level %d (want 1-9)", ErrOption, w.Level)
	}
	return name, adapter, level, nil
}

type vmdkTask struct {
	first int64 // first grain
	n     int
	in    []byte
	out   []byte
	size  []int // bytes of marker+stream+padding per grain, 0 for a zero grain
}

// WriteDisk is StreamDisk: the format needs no patching.
func (w VMDK) WriteDisk(ctx context.Context, dst Destination, src Source) error {
	return w.StreamDisk(ctx, dst, src)
}

// StreamDisk writes src as a streamOptimized VMDK to dst.
func (w VMDK) StreamDisk(ctx context.Context, dst io.Writer, src Source) error {
	name, adapter, level, err := w.params()
	if err != nil {
		return err
	}
	ext, err := checkSource(src)
	if err != nil {
		return err
	}
	size := src.Size()
	capacity := uint64(w.VirtualSize(size) / 512)
	if capacity > vmdkMaxSectors/2 {
		return fmt.Errorf("%w: vmdk of %d bytes is beyond what 32-bit sector offsets address", ErrOption, size)
	}
	desc := vmdkDescriptor(name, adapter, w.Seed, capacity)
	descSects := uint64(len(desc)+511) / 512
	hdr := vmdkHeader(capacity, descSects, vmdkGDAtEnd)

	bw := bufio.NewWriterSize(dst, 1<<20)
	s := &vmdkState{w: bw}
	if err := s.write(hdr); err != nil {
		return fmt.Errorf("vdisk: vmdk: %w", err)
	}
	head := make([]byte, (vmdkOverhead-1)*512)
	copy(head, desc)
	if err := s.write(head); err != nil {
		return fmt.Errorf("vdisk: vmdk: %w", err)
	}

	numGTs := (capacity + vmdkGrainSects*vmdkGTEntries - 1) / (vmdkGrainSects * vmdkGTEntries)
	gd := make([]uint32, numGTs)
	gt := make([]uint32, vmdkGTEntries)
	curGT := int64(-1)
	flushGT := func() error {
		if curGT < 0 {
			return nil
		}
		if err := s.marker(vmdkGTSects, vmdkMarkerGT); err != nil {
			return err
		}
		gd[curGT] = uint32(s.pos / 512)
		b := make([]byte, vmdkGTSects*512)
		for i, e := range gt {
			binary.LittleEndian.PutUint32(b[4*i:], e)
		}
		clear(gt)
		curGT = -1
		return s.write(b)
	}

	const batch = 8
	bufs := newPool(batch*vmdkGrain, 16)
	outs := newPool(batch*(vmdkGrain+1024), 16)
	var flaters sync.Pool
	c := counter(w.Progress, vm.FormatVMDK, dataBytes(ext))
	err = ordered(ctx, w.Workers,
		func(ctx context.Context, send func(vmdkTask) error) error {
			return blockRuns(ext, vmdkGrain, func(first, last int64) error {
				for i := first; i <= last; i += batch {
					n := int(min(batch, last-i+1))
					t := vmdkTask{first: i, n: n, in: bufs.get()[:n*vmdkGrain], size: make([]int, n)}
					end := min(int64(n*vmdkGrain), size-i*vmdkGrain)
					if err := readFull(src, t.in[:end], i*vmdkGrain); err != nil {
						return err
					}
					clear(t.in[end:])
					if err := send(t); err != nil {
						return err
					}
				}
				return nil
			})
		},
		func(t *vmdkTask) error {
			t.out = outs.get()[:0]
			for k := range t.n {
				g := t.in[k*vmdkGrain : (k+1)*vmdkGrain]
				if sparse.IsZero(g) {
					continue
				}
				n, err := vmdkGrainBlob(&flaters, level, &t.out, uint64(t.first+int64(k))*vmdkGrainSects, g)
				if err != nil {
					return err
				}
				t.size[k] = n
			}
			return nil
		},
		func(t *vmdkTask) error {
			off := 0
			for k := range t.n {
				n := t.size[k]
				if n == 0 {
					continue
				}
				g := t.first + int64(k)
				if tbl := g / vmdkGTEntries; tbl != curGT {
					if err := flushGT(); err != nil {
						return err
					}
					curGT = tbl
				}
				gt[g%vmdkGTEntries] = uint32(s.pos / 512)
				if err := s.write(t.out[off : off+n]); err != nil {
					return err
				}
				off += n
			}
			c.Add(int64(t.n * vmdkGrain))
			bufs.put(t.in)
			outs.put(t.out)
			return nil
		})
	if err == nil {
		err = flushGT()
	}
	if err == nil {
		err = s.finish(gd, capacity, descSects)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("vdisk: vmdk: %w", err)
	}
	c.Done()
	return nil
}

type vmdkState struct {
	w   io.Writer
	pos int64
}

func (s *vmdkState) write(b []byte) error {
	n, err := s.w.Write(b)
	s.pos += int64(n)
	return err
}

// marker writes a metadata marker sector: sectors of metadata follow.
func (s *vmdkState) marker(sectors uint64, typ uint32) error {
	m := make([]byte, 512)
	binary.LittleEndian.PutUint64(m[0:], sectors)
	binary.LittleEndian.PutUint32(m[12:], typ)
	return s.write(m)
}

// finish writes the grain directory, the footer and the end-of-stream
// marker.
func (s *vmdkState) finish(gd []uint32, capacity, descSects uint64) error {
	gdSects := (uint64(len(gd))*4 + 511) / 512
	if err := s.marker(gdSects, vmdkMarkerGD); err != nil {
		return err
	}
	gdOff := uint64(s.pos / 512)
	b := make([]byte, gdSects*512)
	for i, e := range gd {
		binary.LittleEndian.PutUint32(b[4*i:], e)
	}
	if err := s.write(b); err != nil {
		return err
	}
	if err := s.marker(1, vmdkMarkerFoot); err != nil {
		return err
	}
	if err := s.write(vmdkHeader(capacity, descSects, gdOff)); err != nil {
		return err
	}
	return s.marker(0, vmdkMarkerEOS)
}

// vmdkHeader is the SparseExtentHeader of a streamOptimized extent.
func vmdkHeader(capacity, descSects, gdOffset uint64) []byte {
	h := make([]byte, 512)
	le := binary.LittleEndian
	le.PutUint32(h[0:], vmdkMagic)
	le.PutUint32(h[4:], 3) // version 3: streamOptimized
	le.PutUint32(h[8:], vmdkFlags)
	le.PutUint64(h[12:], capacity)
	le.PutUint64(h[20:], vmdkGrainSects)
	le.PutUint64(h[28:], 1) // descriptor offset
	le.PutUint64(h[36:], descSects)
	le.PutUint32(h[44:], vmdkGTEntries)
	le.PutUint64(h[48:], 0) // no redundant grain directory
	le.PutUint64(h[56:], gdOffset)
	le.PutUint64(h[64:], vmdkOverhead)
	h[72] = 0 // clean
	h[73], h[74], h[75], h[76] = '\n', ' ', '\r', '\n'
	le.PutUint16(h[77:], 1) // deflate
	return h
}

// vmdkGrainBlob appends a grain marker for lba with the zlib stream of g,
// padded to a sector, to *out and returns its length.
func vmdkGrainBlob(p *sync.Pool, level int, out *[]byte, lba uint64, g []byte) (int, error) {
	start := len(*out)
	var m [12]byte
	binary.LittleEndian.PutUint64(m[0:], lba)
	*out = append(*out, m[:]...)
	*out = append(*out, 0x78, 0x01) // zlib: deflate, 32 KiB window
	buf := bytes.NewBuffer((*out)[len(*out):])
	fw, _ := p.Get().(*flate.Writer)
	if fw == nil {
		var err error
		if fw, err = flate.NewWriter(buf, level); err != nil {
			return 0, err
		}
	} else {
		fw.Reset(buf)
	}
	defer p.Put(fw)
	if _, err := fw.Write(g); err != nil {
		return 0, err
	}
	if err := fw.Close(); err != nil {
		return 0, err
	}
	*out = append(*out, buf.Bytes()...)
	*out = binary.BigEndian.AppendUint32(*out, adler32.Checksum(g))
	n := len(*out) - start
	binary.LittleEndian.PutUint32((*out)[start+8:], uint32(n-12))
	pad := (512 - n%512) % 512
	*out = append(*out, make([]byte, pad)...)
	return n + pad, nil
}

// vmdkDescriptor is the embedded descriptor, with the disk database fields
// vSphere reads. IDs derive from seed and capacity.
func vmdkDescriptor(name, adapter, seed string, capacity uint64) []byte {
	id := sha256.Sum256(fmt.Appendf(nil, "hardvm/vmdk\x00%d\x00%s", capacity, seed))
	heads, sectors := 255, 63
	if adapter == "ide" {
		heads = 16
	}
	cyl := min(capacity/uint64(heads*sectors), 65535)
	u := id[4:20]
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", binary.BigEndian.Uint32(id[:4]))
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE \"%s\"\n\n", capacity, name)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.adapterType = \"%s\"\n", adapter)
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"%d\"\nddb.geometry.sectors = \"%d\"\n", cyl, heads, sectors)
	fmt.Fprintf(&b, "ddb.longContentID = \"%x\"\n", id[20:32])
	fmt.Fprintf(&b, "ddb.uuid = \"%02x %02x %02x %02x %02x %02x %02x %02x-%02x %02x %02x %02x %02x %02x %02x %02x\"\n",
		u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15])
	fmt.Fprintf(&b, "ddb.virtualHWVersion = \"4\"\n")
	return []byte(b.String())
}
