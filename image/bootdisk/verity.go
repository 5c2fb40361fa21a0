package bootdisk

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"sync"

	"github.com/hardvm/hardvm/image/verity"
)

// maxCachedHashBlocks bounds the verified hash blocks kept: 16 MiB of
// 4 KiB blocks, far more than a listing touches.
const maxCachedHashBlocks = 4096

// verified reads a dm-verity data device as the kernel's dm-verity target
// does: every data block is hashed and compared with its leaf digest, and
// every hash block on the way is compared with its parent's digest, up to
// the root hash, before a byte of it is returned. Verified hash blocks are
// cached; data blocks are verified on every read.
type verified struct {
	data, hash io.ReaderAt
	p          verity.Params
	root       []byte
	newHash    func() hash.Hash
	digest     int // digest size
	stride     int // digest stride in a hash block
	bits       uint
	levels     int
	levelBlock []uint64 // first hash block of each level
	size       int64    // data bytes: DataBlocks × DataBlockSize

	mu    sync.Mutex
	cache map[[2]uint64][]byte // {level, index} → verified hash block
}

// newVerified checks p (as read from the hash device's superblock) and the
// devices' sizes and returns the verifying reader.
func newVerified(data io.ReaderAt, dataSize int64, hashDev io.ReaderAt, hashSize int64, p verity.Params, root verity.RootHash) (*verified, error) {
	v := &verified{data: data, hash: hashDev, p: p, root: root, cache: map[[2]uint64][]byte{}}
	switch p.HashAlgo {
	case verity.SHA256:
		v.newHash = sha256.New
	case verity.SHA512:
		v.newHash = sha512.New
	default:
		return nil, fmt.Errorf("%w: hash algorithm %q", ErrVerity, p.HashAlgo)
	}
	v.digest = v.newHash().Size()
	if len(root) != v.digest {
		return nil, fmt.Errorf("%w: a %d-byte root hash for %s", ErrVerity, len(root), p.HashAlgo)
	}
	dbs, hbs := int64(p.DataBlockSize), int64(p.HashBlockSize)
	if p.DataBlocks == 0 || dbs <= 0 || hbs < int64(v.digest) || p.DataBlocks > uint64(dataSize/dbs) {
		return nil, fmt.Errorf("%w: %d data blocks of %d bytes in a %d-byte partition", ErrVerity, p.DataBlocks, dbs, dataSize)
	}
	v.size = int64(p.DataBlocks) * dbs
	v.bits = uint(bits.Len(uint(hbs/int64(v.digest))) - 1)
	v.stride = 1 << bits.Len(uint(v.digest-1))
	n := p.DataBlocks
	for uint(v.levels)*v.bits < 64 && (n-1)>>(uint(v.levels)*v.bits) != 0 {
		v.levels++
	}
	v.levelBlock = make([]uint64, v.levels)
	pos := uint64((512 + hbs - 1) / hbs) // the tree starts after the superblock
	for i := v.levels - 1; i >= 0; i-- {
		v.levelBlock[i] = pos
		pos += (n-1)>>(uint(i+1)*v.bits) + 1
	}
	if pos > uint64(hashSize/hbs) {
		return nil, fmt.Errorf("%w: a tree of %d blocks in a %d-byte hash partition", ErrVerity, pos, hashSize)
	}
	return v, nil
}

// sum returns H(salt || b), the dm-verity version 1 digest.
func (v *verified) sum(b []byte) []byte {
	h := v.newHash()
	h.Write(v.p.Salt)
	h.Write(b)
	return h.Sum(nil)
}

// hashBlock returns hash block idx of level, verified up to the root.
func (v *verified) hashBlock(level int, idx uint64) ([]byte, error) {
	key := [2]uint64{uint64(level), idx}
	v.mu.Lock()
	b := v.cache[key]
	v.mu.Unlock()
	if b != nil {
		return b, nil
	}
	hbs := int64(v.p.HashBlockSize)
	b = make([]byte, hbs)
	at := int64(v.levelBlock[level]+idx) * hbs
	if n, err := v.hash.ReadAt(b, at); n != len(b) {
		return nil, fmt.Errorf("%w: read hash block at %d: %v", ErrVerity, at, err)
	}
	var want []byte
	if level == v.levels-1 {
		if idx != 0 {
			return nil, fmt.Errorf("%w: top level block %d", ErrVerity, idx)
		}
		want = v.root
	} else {
		parent, err := v.hashBlock(level+1, idx>>v.bits)
		if err != nil {
			return nil, err
		}
		i := int(idx&(1<<v.bits-1)) * v.stride
		want = parent[i : i+v.digest]
	}
	if !bytes.Equal(v.sum(b), want) {
		return nil, &BlockError{Device: "hash", Block: v.levelBlock[level] + idx, Level: level}
	}
	v.mu.Lock()
	if len(v.cache) >= maxCachedHashBlocks {
		clear(v.cache)
	}
	v.cache[key] = b
	v.mu.Unlock()
	return b, nil
}

// check verifies data block idx.
func (v *verified) check(idx uint64, b []byte) error {
	var want []byte
	if v.levels == 0 {
		want = v.root // one data block: its digest is the root
	} else {
		leaf, err := v.hashBlock(0, idx>>v.bits)
		if err != nil {
			return err
		}
		i := int(idx&(1<<v.bits-1)) * v.stride
		want = leaf[i : i+v.digest]
	}
	if !bytes.Equal(v.sum(b), want) {
		return &BlockError{Device: "data", Block: idx}
	}
	return nil
}

// ReadAt reads verified data. Reads past the verified data end with io.EOF.
func (v *verified) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", ErrVerity)
	}
	dbs := int64(v.p.DataBlockSize)
	block := make([]byte, dbs)
	n := 0
	for n < len(p) {
		if off >= v.size {
			return n, io.EOF
		}
		idx := off / dbs
		if m, err := v.data.ReadAt(block, idx*dbs); m != len(block) {
			return n, fmt.Errorf("%w: read data block %d: %v", ErrVerity, idx, err)
		}
		if err := v.check(uint64(idx), block); err != nil {
			return n, err
		}
		k := copy(p[n:], block[off-idx*dbs:])
		n += k
		off += int64(k)
	}
	return n, nil
}
