package vdisk

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/hardvm/hardvm/vm"
)

// qcow2 table entry fields.
const (
	qcowOffsetMask   = 0x00fffffffffffe00 // bits 9-55: a host offset
	qcowL1Reserved   = 0x7f000000000001ff // bits 0-8 and 56-62
	qcowL2Reserved   = 0x3f000000000001fe // bits 1-8 and 56-61
	qcowZeroFlag     = 1                  // bit 0 of a standard L2 entry
	qcowExtL2Feature = 1 << 4             // incompatible feature: extended L2
	qcowCompFeature  = 1 << 3             // incompatible feature: compression type
	qcowCachedL2     = 8                  // L2 tables a Reader keeps
	qcowCachedData   = 4                  // decompressed clusters a Reader keeps
)

type qcowReader struct {
	r     io.ReaderAt
	fsize int64
	cs    int64
	bits  uint
	l1    []uint64
	l2    lru
	data  lru
	inf   sync.Pool // flate readers
}

// newQCOW2Reader validates the header as Inspect does, refuses extended L2
// entries and compression types other than deflate, and reads the L1 table.
func newQCOW2Reader(r io.ReaderAt, size int64) (*Reader, error) {
	const f = vm.FormatQCOW2
	info, err := Inspect(r, size, f)
	if err != nil {
		return nil, err
	}
	h := make([]byte, 112)
	if err := readHost(r, size, h[:min(112, size)], 0, f, "header"); err != nil {
		return nil, err
	}
	be := binary.BigEndian
	if info.Subformat == "v3" {
		incompat := be.Uint64(h[72:])
		if incompat&qcowExtL2Feature != 0 {
			return nil, fieldErr(f, "incompatible_features", 72, ErrUnsupported, "extended L2 entries (subclusters)")
		}
		if incompat&qcowCompFeature != 0 {
			if hlen := be.Uint32(h[100:]); hlen <= 104 || size < 105 {
				return nil, fieldErr(f, "header_length", 100, ErrInvalid, "the compression type bit is set but the %d-byte header has no compression_type", hlen)
			}
			if t := h[104]; t != 0 {
				return nil, fieldErr(f, "compression_type", 104, ErrUnsupported, "compression type %d (want 0, deflate)", t)
			}
		}
	}
	q := &qcowReader{r: r, fsize: size, cs: info.ClusterSize, bits: uint(be.Uint32(h[20:]))}
	q.l2.max, q.data.max = qcowCachedL2, qcowCachedData
	l1Size := int64(be.Uint32(h[36:]))
	l1Off := int64(be.Uint64(h[40:]) & (1<<63 - 1))
	// Only the entries that map the disk; Inspect checked the table fits
	// in the file and in maxTable.
	need := (info.VirtualSize + q.cs*(q.cs/8) - 1) / (q.cs * (q.cs / 8))
	l1 := make([]byte, min(l1Size, need)*8)
	if err := readHost(r, size, l1, l1Off, f, "l1_table"); err != nil {
		return nil, err
	}
	q.l1 = make([]uint64, len(l1)/8)
	for i := range q.l1 {
		e := be.Uint64(l1[8*i:])
		if e&qcowL1Reserved != 0 {
			return nil, fieldErr(f, "l1_table", l1Off+int64(8*i), ErrInvalid, "L1 entry %d (%#x) sets reserved bits", i, e)
		}
		if off := int64(e & qcowOffsetMask); off != 0 && (off%q.cs != 0 || off < q.cs || off > size-q.cs) {
			return nil, fieldErr(f, "l1_table", l1Off+int64(8*i), ErrInvalid, "L2 table %d at %d is unaligned, on the header or beyond the %d-byte file", i, off, size)
		}
		q.l1[i] = e & qcowOffsetMask
	}
	return &Reader{format: f, size: info.VirtualSize, m: q}, nil
}

func (q *qcowReader) blockSize() int64 { return q.cs }

// l2Entry returns the L2 entry of guest cluster idx, 0 when no L2 table
// maps it.
func (q *qcowReader) l2Entry(idx int64) (uint64, error) {
	per := q.cs / 8
	off := int64(q.l1[idx/per])
	if off == 0 {
		return 0, nil
	}
	t := q.l2.get(off)
	if t == nil {
		t = make([]byte, q.cs)
		if err := readHost(q.r, q.fsize, t, off, vm.FormatQCOW2, "l2_table"); err != nil {
			return 0, err
		}
		q.l2.put(off, t)
	}
	return binary.BigEndian.Uint64(t[8*(idx%per):]), nil
}

func (q *qcowReader) readBlock(p []byte, idx, in int64) error {
	const f = vm.FormatQCOW2
	e, err := q.l2Entry(idx)
	if err != nil {
		return err
	}
	if e&qcowCompressed != 0 {
		c, err := q.cluster(idx, e)
		if err != nil {
			return err
		}
		copy(p, c[in:])
		return nil
	}
	if e&qcowL2Reserved != 0 {
		return fieldErr(f, "l2_entry", -1, ErrInvalid, "L2 entry of cluster %d (%#x) sets reserved bits", idx, e)
	}
	host := int64(e & qcowOffsetMask)
	if e&qcowZeroFlag != 0 || host == 0 {
		clear(p)
		return nil
	}
	if host%q.cs != 0 || host < q.cs {
		return fieldErr(f, "l2_entry", -1, ErrInvalid, "cluster %d at %d is unaligned or on the header", idx, host)
	}
	return readHost(q.r, q.fsize, p, host+in, f, "data_cluster")
}

// cluster returns guest cluster idx, whose L2 entry e says it is
// compressed, inflated: exactly one cluster.
func (q *qcowReader) cluster(idx int64, e uint64) ([]byte, error) {
	const f = vm.FormatQCOW2
	if c := q.data.get(idx); c != nil {
		return c, nil
	}
	x := 62 - (q.bits - 8)
	host := int64(e & (1<<x - 1))
	sectors := int64(e>>x) & (1<<(q.bits-8) - 1)
	n := (sectors+1)*512 - host%512
	if host < q.cs || host >= q.fsize {
		return nil, fieldErr(f, "l2_entry", -1, ErrInvalid, "compressed cluster %d at %d is on the header or beyond the %d-byte file", idx, host, q.fsize)
	}
	// The last sector may reach past the end of the file.
	z := make([]byte, min(n, q.fsize-host))
	if err := readHost(q.r, q.fsize, z, host, f, "compressed_cluster"); err != nil {
		return nil, err
	}
	fr, _ := q.inf.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(bytes.NewReader(z))
	} else if err := fr.(flate.Resetter).Reset(bytes.NewReader(z), nil); err != nil {
		return nil, err
	}
	defer q.inf.Put(fr)
	c := make([]byte, q.cs)
	if _, err := io.ReadFull(fr, c); err != nil {
		return nil, fieldErr(f, "compressed_cluster", host, ErrInvalid, "cluster %d does not inflate to %d bytes: %v", idx, q.cs, err)
	}
	var one [1]byte
	if k, _ := fr.Read(one[:]); k != 0 {
		return nil, fieldErr(f, "compressed_cluster", host, ErrInvalid, "cluster %d inflates to more than %d bytes", idx, q.cs)
	}
	q.data.put(idx, c)
	return c, nil
}
