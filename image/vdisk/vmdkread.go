package vdisk

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/klauspost/compress/zlib"

	"github.com/hardvm/hardvm/vm"
)

const (
	vmdkCachedGT    = 16 // grain tables a Reader keeps (2 KiB each)
	vmdkCachedGrain = 4  // inflated grains a Reader keeps
	vmdkFlagZeroGTE = 1 << 2
	vmdkFlagComp    = 1 << 16
)

type vmdkReader struct {
	r          io.ReaderAt
	fsize      int64
	grain      int64 // bytes
	vsize      int64
	compressed bool
	zeroGTE    bool
	gd         []uint32
	gts        lru
	grains     lru
}

// newVMDKReader validates a monolithicSparse or streamOptimized VMDK as
// Inspect does (the grain directory found through the footer when the
// header says it is at the end) and reads the grain directory. f names the
// format in the Reader (vmdk, or ova for an OVA's disk).
func newVMDKReader(r io.ReaderAt, size int64, f Format) (*Reader, error) {
	const vf = vm.FormatVMDK
	info, err := Inspect(r, size, vf)
	if err != nil {
		return nil, err
	}
	h := make([]byte, 512)
	if err := readHost(r, size, h, 0, vf, "header"); err != nil {
		return nil, err
	}
	hd, err := vmdkParseHeader(h, 0)
	if err != nil {
		return nil, err
	}
	if hd.gdOffset == vmdkGDAtEnd {
		// Inspect checked the footer and that it matches the header.
		if err := readHost(r, size, h, size-1024, vf, "footer"); err != nil {
			return nil, err
		}
		if hd, err = vmdkParseHeader(h, size-1024); err != nil {
			return nil, err
		}
	}
	v := &vmdkReader{r: r, fsize: size, grain: info.ClusterSize, vsize: info.VirtualSize,
		compressed: hd.flags&vmdkFlagComp != 0, zeroGTE: hd.flags&vmdkFlagZeroGTE != 0}
	v.gts.max, v.grains.max = vmdkCachedGT, vmdkCachedGrain
	numGTs := (hd.capacity + hd.grainSize*vmdkGTEntries - 1) / (hd.grainSize * vmdkGTEntries)
	gd := make([]byte, numGTs*4)
	gdOff := int64(hd.gdOffset) * 512
	if err := readHost(r, size, gd, gdOff, vf, "grain_directory"); err != nil {
		return nil, err
	}
	v.gd = make([]uint32, numGTs)
	for i := range v.gd {
		s := binary.LittleEndian.Uint32(gd[4*i:])
		if s != 0 && (int64(s) < 1 || int64(s)*512 > size-vmdkGTEntries*4) {
			return nil, fieldErr(vf, "grain_directory", gdOff+int64(4*i), ErrInvalid, "grain table %d at sector %d is beyond the %d-byte file", i, s, size)
		}
		v.gd[i] = s
	}
	return &Reader{format: f, size: info.VirtualSize, m: v}, nil
}

func (v *vmdkReader) blockSize() int64 { return v.grain }

// gte returns the grain table entry of grain idx: its sector, 0 for none,
// 1 for a zero grain (when the header allows it).
func (v *vmdkReader) gte(idx int64) (uint32, error) {
	s := v.gd[idx/vmdkGTEntries]
	if s == 0 {
		return 0, nil
	}
	t := v.gts.get(int64(s))
	if t == nil {
		t = make([]byte, vmdkGTEntries*4)
		if err := readHost(v.r, v.fsize, t, int64(s)*512, vm.FormatVMDK, "grain_table"); err != nil {
			return 0, err
		}
		v.gts.put(int64(s), t)
	}
	return binary.LittleEndian.Uint32(t[4*(idx%vmdkGTEntries):]), nil
}

func (v *vmdkReader) readBlock(p []byte, idx, in int64) error {
	const f = vm.FormatVMDK
	s, err := v.gte(idx)
	if err != nil {
		return err
	}
	if s == 0 || (s == 1 && v.zeroGTE) {
		clear(p)
		return nil
	}
	if !v.compressed {
		return readHost(v.r, v.fsize, p, int64(s)*512+in, f, "grain")
	}
	g, err := v.inflate(idx, int64(s)*512)
	if err != nil {
		return err
	}
	copy(p, g[in:])
	return nil
}

// inflate returns grain idx, whose compressed form (a grain marker: LBA,
// size, zlib stream) is at off: exactly one grain, or for a last grain
// that the disk's end cuts, exactly the disk's bytes in it.
func (v *vmdkReader) inflate(idx, off int64) ([]byte, error) {
	const f = vm.FormatVMDK
	if g := v.grains.get(idx); g != nil {
		return g, nil
	}
	var m [12]byte
	if err := readHost(v.r, v.fsize, m[:], off, f, "grain_marker"); err != nil {
		return nil, err
	}
	lba, n := binary.LittleEndian.Uint64(m[0:]), int64(binary.LittleEndian.Uint32(m[8:]))
	if want := uint64(idx * v.grain / 512); lba != want {
		return nil, fieldErr(f, "grain_marker", off, ErrMismatch, "grain %d's marker says sector %d, want %d", idx, lba, want)
	}
	// zlib stores incompressible data with a few bytes per 16 KiB.
	if n < 8 || n > v.grain+v.grain/64+1024 {
		return nil, fieldErr(f, "grain_marker", off+8, ErrInvalid, "grain %d: %d compressed bytes for a %d-byte grain", idx, n, v.grain)
	}
	z := make([]byte, n)
	if err := readHost(v.r, v.fsize, z, off+12, f, "grain"); err != nil {
		return nil, err
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fieldErr(f, "grain", off+12, ErrInvalid, "grain %d: %v", idx, err)
	}
	defer zr.Close()
	// The whole stream, to its checksum, and at most one byte more than
	// a grain.
	g, err := io.ReadAll(io.LimitReader(zr, v.grain+1))
	if err != nil {
		return nil, fieldErr(f, "grain", off+12, ErrInvalid, "grain %d does not inflate: %v", idx, err)
	}
	tail := min(v.grain, v.vsize-idx*v.grain)
	if k := int64(len(g)); k != v.grain && k != tail {
		return nil, fieldErr(f, "grain", off+12, ErrInvalid, "grain %d inflates to %d bytes, want %d", idx, k, v.grain)
	}
	g = append(g, make([]byte, v.grain-int64(len(g)))...)
	v.grains.put(idx, g)
	return g, nil
}
