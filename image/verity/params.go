package verity

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"math/bits"
)

// Hash algorithms that [Params.HashAlgo] accepts, named as veritysetup
// names them.
const (
	SHA256 = "sha256"
	SHA512 = "sha512"
)

// Defaults, as `veritysetup format` uses them.
const (
	DefaultBlockSize = 4096
	// MaxSaltSize is the largest salt the superblock holds.
	MaxSaltSize = 256
	// superblockSize is the size of the on-disk superblock.
	superblockSize = 512
)

// Params describes a dm-verity hash tree. The zero value of a field means
// its default: SHA-256, 4096-byte blocks, an empty salt, the nil UUID and
// as many data blocks as the data holds.
type Params struct {
	HashAlgo      string   // SHA256 (default) or SHA512
	DataBlockSize int      // bytes, a power of two from 512 to 524288; default 4096
	HashBlockSize int      // bytes, a power of two from 512 to 524288; default 4096
	Salt          []byte   // at most MaxSaltSize bytes; the caller derives it
	UUID          [16]byte // stored in the superblock, in RFC 4122 byte order
	DataBlocks    uint64   // number of data blocks; 0 means dataSize/DataBlockSize
}

// withDefaults returns p with defaults filled in, and checks it.
func (p Params) withDefaults() (Params, error) {
	if p.HashAlgo == "" {
		p.HashAlgo = SHA256
	}
	if p.DataBlockSize == 0 {
		p.DataBlockSize = DefaultBlockSize
	}
	if p.HashBlockSize == 0 {
		p.HashBlockSize = DefaultBlockSize
	}
	if _, err := newHash(p.HashAlgo); err != nil {
		return p, err
	}
	if !validBlockSize(p.DataBlockSize) {
		return p, &FieldError{"data_block_size", p.DataBlockSize, ErrParams}
	}
	if !validBlockSize(p.HashBlockSize) {
		return p, &FieldError{"hash_block_size", p.HashBlockSize, ErrParams}
	}
	if len(p.Salt) > MaxSaltSize {
		return p, &FieldError{"salt", fmt.Sprintf("%d bytes (max %d)", len(p.Salt), MaxSaltSize), ErrParams}
	}
	return p, nil
}

// validBlockSize mirrors cryptsetup's check: a power of two between 512
// bytes and 512 KiB.
func validBlockSize(n int) bool {
	return n >= 512 && n <= 512*1024 && n&(n-1) == 0
}

// newHash returns a constructor for algo.
func newHash(algo string) (func() hash.Hash, error) {
	switch algo {
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, &FieldError{"hash_algo", fmt.Sprintf("%q (want %s or %s)", algo, SHA256, SHA512), ErrParams}
}

// geometry is the shape of a tree: where each level lives and how big it is.
type geometry struct {
	p            Params
	newHash      func() hash.Hash
	digestSize   int
	digestFull   int    // stride of a digest in a hash block (next power of two)
	perBlockBits uint   // log2 of digests per hash block
	perBlock     int    // digests per hash block
	hashStart    uint64 // first tree block, in hash blocks from the superblock
	levels       int
	levelBlock   []uint64 // first hash block of each level (0 = leaves)
	levelSize    []uint64 // hash blocks in each level
	totalBlocks  uint64   // hash blocks including the superblock's
}

// newGeometry computes the layout of the tree of p, as
// VERITY_create_or_verify_hash does. p must have defaults filled in.
func newGeometry(p Params) (*geometry, error) {
	nh, err := newHash(p.HashAlgo)
	if err != nil {
		return nil, err
	}
	g := &geometry{p: p, newHash: nh}
	g.digestSize = nh().Size()
	if g.digestSize > p.HashBlockSize {
		return nil, &FieldError{"hash_block_size", p.HashBlockSize, ErrParams}
	}
	g.perBlockBits = uint(bits.Len(uint(p.HashBlockSize/g.digestSize)) - 1)
	g.perBlock = 1 << g.perBlockBits
	g.digestFull = 1 << bits.Len(uint(g.digestSize-1))
	// The superblock sits at the start of the hash area; the tree starts
	// at the next hash block boundary.
	g.hashStart = uint64((superblockSize + p.HashBlockSize - 1) / p.HashBlockSize)
	n := p.DataBlocks
	if n == 0 {
		return nil, &FieldError{"data_blocks", 0, ErrParams}
	}
	for uint(g.levels)*g.perBlockBits < 64 && (n-1)>>(uint(g.levels)*g.perBlockBits) != 0 {
		g.levels++
	}
	g.levelBlock = make([]uint64, g.levels)
	g.levelSize = make([]uint64, g.levels)
	pos := g.hashStart
	for i := g.levels - 1; i >= 0; i-- {
		shift := uint(i+1) * g.perBlockBits
		s := uint64(1) // ceil(n / 2^shift), for n >= 1
		if shift < 64 {
			s = (n-1)>>shift + 1
		}
		g.levelBlock[i] = pos
		g.levelSize[i] = s
		if pos+s < pos {
			return nil, &FieldError{"data_blocks", n, ErrParams}
		}
		pos += s
	}
	g.totalBlocks = pos
	if g.totalBlocks > (1<<63-1)/uint64(p.HashBlockSize) || n > (1<<63-1)/uint64(p.DataBlockSize) {
		return nil, &FieldError{"data_blocks", n, ErrParams}
	}
	return g, nil
}

// HashSize returns the size in bytes of the hash area (superblock and tree)
// that [Format] writes for dataSize bytes of data with parameters p.
func HashSize(dataSize int64, p Params) (int64, error) {
	p, err := p.resolve(dataSize)
	if err != nil {
		return 0, err
	}
	g, err := newGeometry(p)
	if err != nil {
		return 0, err
	}
	return int64(g.totalBlocks) * int64(p.HashBlockSize), nil
}

// resolve fills in defaults and the number of data blocks from dataSize.
func (p Params) resolve(dataSize int64) (Params, error) {
	p, err := p.withDefaults()
	if err != nil {
		return p, err
	}
	if dataSize < 0 {
		return p, &FieldError{"data_size", dataSize, ErrParams}
	}
	if p.DataBlocks == 0 {
		if dataSize%int64(p.DataBlockSize) != 0 {
			return p, &FieldError{"data_size", fmt.Sprintf("%d (not a multiple of the %d-byte data block)", dataSize, p.DataBlockSize), ErrParams}
		}
		p.DataBlocks = uint64(dataSize / int64(p.DataBlockSize))
	}
	if p.DataBlocks == 0 {
		return p, &FieldError{"data_blocks", "0 (empty data device)", ErrParams}
	}
	if p.DataBlocks > uint64(dataSize)/uint64(p.DataBlockSize) {
		return p, &FieldError{"data_blocks", fmt.Sprintf("%d (data holds only %d)", p.DataBlocks, dataSize/int64(p.DataBlockSize)), ErrParams}
	}
	return p, nil
}
