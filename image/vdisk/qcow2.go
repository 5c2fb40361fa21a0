package vdisk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/klauspost/compress/flate"

	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// QCOW2 writes QEMU copy-on-write version 3 images: all-zero clusters stay
// unallocated, data clusters follow in guest order, optionally deflated on
// every core (as `qemu-img convert -c` does, but in parallel).
//
// Layout: the header cluster, then the data clusters, then the L2 tables,
// the L1 table, the refcount blocks and the refcount table. The header names
// where the tables are, and where they are depends on which clusters hold
// data and how small they compress, which is known only once the data has
// been read. Rather than read the disk twice, or hold it, the writer streams
// everything after the header with Write, then writes the header into
// the first cluster with WriteAt: it needs a [Destination], and is not a
// [StreamWriter]. Memory holds the L2 entries of the data (8 bytes per
// guest cluster with data) and a refcount per host cluster (2 bytes).
type QCOW2 struct {
	// ClusterSize is the cluster size in bytes, a power of two from 4 KiB
	// to 2 MiB; 0 means 64 KiB, qemu's default.
	ClusterSize int
	// Compress deflates each data cluster (window 4 KiB, no zlib header,
	// as qemu reads them); clusters that do not shrink are stored as they
	// are.
	Compress bool
	// Workers is the number of compressing goroutines; 0 means GOMAXPROCS.
	Workers int
	// Progress, if set, receives the source bytes done.
	Progress progress.Reporter
}

// Format returns vm.FormatQCOW2.
func (QCOW2) Format() Format { return vm.FormatQCOW2 }

const (
	qcowMagic       = 0x514649fb // "QFI\xfb"
	qcowHeaderLen   = 104        // version 3 header without optional fields
	qcowCopied      = uint64(1) << 63
	qcowCompressed  = uint64(1) << 62
	qcowBatchBytes  = 512 << 10 // bytes of guest data per pipeline task
	qcowRefcountOrd = 4         // 16-bit refcounts
)

func (w QCOW2) clusterSize() (int, error) {
	cs := w.ClusterSize
	if cs == 0 {
		cs = 64 << 10
	}
	if cs < 4<<10 || cs > 2<<20 || cs&(cs-1) != 0 {
		return 0, fmt.Errorf("%w: qcow2 cluster size %d (want a power of two from 4096 to 2097152)", ErrOption, w.ClusterSize)
	}
	return cs, nil
}

// qcowTask is a run of consecutive guest clusters.
type qcowTask struct {
	first int64  // index of the first guest cluster
	n     int    // clusters in the run
	in    []byte // n clusters of guest data
	out   []byte // compressed clusters, back to back
	size  []int  // per cluster: 0 all zeros, -1 stored raw, >0 compressed length
}

// WriteDisk writes src as a qcow2 image to dst, the header last.
func (w QCOW2) WriteDisk(ctx context.Context, dst Destination, src Source) error {
	cs, err := w.clusterSize()
	if err != nil {
		return err
	}
	ext, err := checkSource(src)
	if err != nil {
		return err
	}
	size := src.Size()
	clusterBits := bits.TrailingZeros(uint(cs))
	l2Entries := int64(cs / 8)
	l1Size := (size + int64(cs)*l2Entries - 1) / (int64(cs) * l2Entries)
	if l1Size > 32<<20/8 {
		return fmt.Errorf("%w: qcow2 of %d bytes needs an L1 table of %d entries", ErrOption, size, l1Size)
	}

	st := &qcowState{cs: int64(cs), l2Entries: l2Entries, l1: make([]uint64, l1Size), cur: -1}
	bw := bufio.NewWriterSize(dst, 1<<20)
	// The header cluster is written as zeros now and filled in last.
	if err := st.write(bw, make([]byte, cs)); err != nil {
		return fmt.Errorf("vdisk: qcow2: %w", err)
	}
	st.ref(0, int64(cs))

	batch := max(1, qcowBatchBytes/cs)
	bufs := newPool(batch*cs, 16)
	outs := newPool(batch*cs, 16)
	var flaters sync.Pool
	c := counter(w.Progress, vm.FormatQCOW2, dataBytes(ext))
	err = ordered(ctx, w.Workers,
		func(ctx context.Context, send func(qcowTask) error) error {
			return blockRuns(ext, int64(cs), func(first, last int64) error {
				for i := first; i <= last; i += int64(batch) {
					n := int(min(int64(batch), last-i+1))
					t := qcowTask{first: i, n: n, in: bufs.get()[:n*cs], size: make([]int, n)}
					if err := readFull(src, t.in[:min(int64(n*cs), size-i*int64(cs))], i*int64(cs)); err != nil {
						return err
					}
					clear(t.in[min(int64(n*cs), size-i*int64(cs)):])
					if err := send(t); err != nil {
						return err
					}
				}
				return nil
			})
		},
		func(t *qcowTask) error {
			if w.Compress {
				t.out = outs.get()[:0]
			}
			for k := range t.n {
				cl := t.in[k*cs : (k+1)*cs]
				switch {
				case sparse.IsZero(cl):
					t.size[k] = 0
				case !w.Compress:
					t.size[k] = -1
				default:
					n, err := deflateCluster(&flaters, &t.out, cl)
					if err != nil {
						return err
					}
					t.size[k] = n
				}
			}
			return nil
		},
		func(t *qcowTask) error {
			var zpos int
			// Runs of stored clusters go out in one write, which a
			// bufio.Writer passes straight through when it is empty.
			run, runLen := 0, 0
			flush := func() error {
				if runLen == 0 {
					return nil
				}
				err := st.write(bw, t.in[run*cs:(run+runLen)*cs])
				runLen = 0
				return err
			}
			for k := range t.n {
				if t.size[k] >= 0 {
					if err := flush(); err != nil {
						return err
					}
				}
				g := t.first + int64(k)
				if t.size[k] != 0 && st.cur >= 0 && g/st.l2Entries != st.cur {
					// The guest clusters passed the current L2
					// table's: it is complete, out it goes.
					if err := flush(); err != nil {
						return err
					}
					if err := st.writeL2(bw); err != nil {
						return err
					}
				}
				switch n := t.size[k]; {
				case n == 0:
				case n < 0:
					if runLen == 0 {
						if err := st.padTo(bw, st.pos+(st.cs-st.pos%st.cs)%st.cs); err != nil {
							return err
						}
						run = k
					}
					host := st.pos + int64(runLen)*st.cs
					st.setL2(g, uint64(host)|qcowCopied)
					st.ref(host, st.cs)
					runLen++
				default:
					off := st.pos
					sectors := uint64((off+int64(n)-1)>>9 - off>>9)
					x := 62 - (clusterBits - 8)
					st.setL2(g, qcowCompressed|sectors<<x|uint64(off))
					st.ref(off, int64(n))
					if err := st.write(bw, t.out[zpos:zpos+n]); err != nil {
						return err
					}
					zpos += n
				}
			}
			if err := flush(); err != nil {
				return err
			}
			c.Add(int64(t.n * cs))
			bufs.put(t.in)
			outs.put(t.out)
			return nil
		})
	if err != nil {
		return fmt.Errorf("vdisk: qcow2: %w", err)
	}
	hdr, err := st.finish(bw, size, clusterBits, l1Size)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = dst.WriteAt(hdr, 0)
	}
	if err != nil {
		return fmt.Errorf("vdisk: qcow2: %w", err)
	}
	c.Done()
	return nil
}

// deflateCluster appends the raw deflate of cl to *out and returns its
// length, or -1 when it does not save at least a sector.
func deflateCluster(p *sync.Pool, out *[]byte, cl []byte) (int, error) {
	fw, _ := p.Get().(*flate.Writer)
	buf := bytes.NewBuffer((*out)[len(*out):])
	if fw == nil {
		var err error
		// qemu (and the qcow2 specification) inflate with a 4 KiB window
		// (windowBits -12), so matches must not reach further back:
		// klauspost's window-limited encoder, which has no levels.
		fw, err = flate.NewWriterWindow(buf, 4096)
		if err != nil {
			return 0, err
		}
	} else {
		fw.Reset(buf)
	}
	defer p.Put(fw)
	if _, err := fw.Write(cl); err != nil {
		return 0, err
	}
	if err := fw.Close(); err != nil {
		return 0, err
	}
	n := buf.Len()
	if n > len(cl)-512 {
		return -1, nil
	}
	*out = append(*out, buf.Bytes()...)
	return n, nil
}

// qcowState tracks the host file while it is written: its end, the L1
// table, the one L2 table being filled and the refcount of each host
// cluster. Guest clusters come in increasing order, so an L2 table is
// complete, and written into the stream, as soon as a guest cluster of the
// next one comes: memory holds one L2 table (64 KiB), not one per 512 MiB
// of data.
type qcowState struct {
	cs        int64
	l2Entries int64
	pos       int64
	l1        []uint64
	cur       int64    // index of the L2 table in l2, -1 for none
	l2        []uint64 // the L2 table being filled
	l2Buf     []byte   // its bytes, when written
	refs      []uint16
}

func (s *qcowState) write(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	s.pos += int64(n)
	return err
}

func (s *qcowState) padTo(w io.Writer, off int64) error {
	if off <= s.pos {
		return nil
	}
	n := off - s.pos
	s.pos = off
	return writeZeros(w, n)
}

// setL2 sets the L2 entry of a guest cluster of the current table (or
// starts a table when there is none); writeL2 has written the table
// before when the guest cluster is another table's.
func (s *qcowState) setL2(guest int64, entry uint64) {
	if s.cur < 0 {
		s.cur = guest / s.l2Entries
		if s.l2 == nil {
			s.l2 = make([]uint64, s.l2Entries)
		}
	}
	s.l2[guest%s.l2Entries] = entry
}

// writeL2 writes the current L2 table at the next cluster boundary, points
// the L1 table at it and leaves no current table.
func (s *qcowState) writeL2(w io.Writer) error {
	if s.cur < 0 {
		return nil
	}
	if err := s.padTo(w, (s.pos+s.cs-1)/s.cs*s.cs); err != nil {
		return err
	}
	if s.l2Buf == nil {
		s.l2Buf = make([]byte, s.cs)
	}
	buf := s.l2Buf
	for k, e := range s.l2 {
		binary.BigEndian.PutUint64(buf[8*k:], e)
	}
	s.l1[s.cur] = uint64(s.pos) | qcowCopied
	s.ref(s.pos, s.cs)
	if err := s.write(w, buf); err != nil {
		return err
	}
	clear(s.l2)
	s.cur = -1
	return nil
}

// ref counts one more user of every host cluster that [off, off+n) touches.
func (s *qcowState) ref(off, n int64) {
	for c := off / s.cs; c <= (off+n-1)/s.cs; c++ {
		for int64(len(s.refs)) <= c {
			s.refs = append(s.refs, 0)
		}
		s.refs[c]++
	}
}

// finish writes the L2 tables, the L1 table and the refcount structures
// after the data and returns the header cluster.
func (s *qcowState) finish(w io.Writer, size int64, clusterBits int, l1Size int64) ([]byte, error) {
	cs := s.cs
	if err := s.writeL2(w); err != nil {
		return nil, err
	}
	if err := s.padTo(w, (s.pos+cs-1)/cs*cs); err != nil {
		return nil, err
	}
	l1 := s.l1
	buf := make([]byte, cs)
	l1Off := s.pos
	l1Bytes := (l1Size*8 + cs - 1) / cs * cs
	l1Buf := make([]byte, l1Bytes)
	for i, e := range l1 {
		binary.BigEndian.PutUint64(l1Buf[8*i:], e)
	}
	s.ref(s.pos, l1Bytes)
	if err := s.write(w, l1Buf); err != nil {
		return nil, err
	}

	// The refcount blocks and table must count themselves too.
	perBlock := cs / 2
	used := s.pos / cs
	var blocks, tableClusters int64
	for {
		total := used + blocks + tableClusters
		nb := (total + perBlock - 1) / perBlock
		nt := (nb*8 + cs - 1) / cs
		if nb == blocks && nt == tableClusters {
			break
		}
		blocks, tableClusters = nb, nt
	}
	s.ref(s.pos, (blocks+tableClusters)*cs)
	blocksOff := s.pos
	for b := range blocks {
		clear(buf)
		for k := int64(0); k < perBlock; k++ {
			c := b*perBlock + k
			if c >= int64(len(s.refs)) {
				break
			}
			binary.BigEndian.PutUint16(buf[2*k:], s.refs[c])
		}
		if err := s.write(w, buf); err != nil {
			return nil, err
		}
	}
	tableOff := s.pos
	table := make([]byte, tableClusters*cs)
	for b := range blocks {
		binary.BigEndian.PutUint64(table[8*b:], uint64(blocksOff+b*cs))
	}
	if err := s.write(w, table); err != nil {
		return nil, err
	}

	h := make([]byte, cs)
	be := binary.BigEndian
	be.PutUint32(h[0:], qcowMagic)
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], uint32(clusterBits))
	be.PutUint64(h[24:], uint64(size))
	be.PutUint32(h[36:], uint32(l1Size))
	be.PutUint64(h[40:], uint64(l1Off))
	be.PutUint64(h[48:], uint64(tableOff))
	be.PutUint32(h[56:], uint32(tableClusters))
	be.PutUint32(h[96:], qcowRefcountOrd)
	be.PutUint32(h[100:], qcowHeaderLen)
	return h, nil
}
