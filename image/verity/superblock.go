package verity

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// On-disk superblock (struct verity_sb in cryptsetup's lib/verity/verity.c),
// little-endian, 512 bytes:
//
//	0   signature[8]      "verity\0\0"
//	8   version u32       1
//	12  hash_type u32     1 (normal), 0 (Chrome OS)
//	16  uuid[16]
//	32  algorithm[32]     NUL-terminated, e.g. "sha256"
//	64  data_block_size u32
//	68  hash_block_size u32
//	72  data_blocks u64
//	80  salt_size u16
//	82  _pad1[6]
//	88  salt[256]
//	344 _pad2[168]
var signature = [8]byte{'v', 'e', 'r', 'i', 't', 'y', 0, 0}

// marshalSuperblock encodes p (defaults filled in) as a 512-byte superblock.
func marshalSuperblock(p Params) []byte {
	b := make([]byte, superblockSize)
	copy(b[0:8], signature[:])
	binary.LittleEndian.PutUint32(b[8:], 1)  // version
	binary.LittleEndian.PutUint32(b[12:], 1) // hash type: normal
	copy(b[16:32], p.UUID[:])
	copy(b[32:64], p.HashAlgo)
	binary.LittleEndian.PutUint32(b[64:], uint32(p.DataBlockSize))
	binary.LittleEndian.PutUint32(b[68:], uint32(p.HashBlockSize))
	binary.LittleEndian.PutUint64(b[72:], p.DataBlocks)
	binary.LittleEndian.PutUint16(b[80:], uint16(len(p.Salt)))
	copy(b[88:88+MaxSaltSize], p.Salt)
	return b
}

// ParseSuperblock decodes and checks an untrusted 512-byte superblock. It
// accepts what `veritysetup format` writes: version 1, hash type 1, SHA-256
// or SHA-512, power-of-two block sizes from 512 bytes to 512 KiB, a salt of
// at most 256 bytes, and at least one data block.
func ParseSuperblock(b []byte) (Params, error) {
	var p Params
	if len(b) < superblockSize {
		return p, &FieldError{"superblock", fmt.Sprintf("%d bytes (want %d)", len(b), superblockSize), ErrSuperblock}
	}
	if !bytes.Equal(b[0:8], signature[:]) {
		return p, &FieldError{"superblock.signature", fmt.Sprintf("%q", b[0:8]), ErrSuperblock}
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != 1 {
		return p, &FieldError{"superblock.version", v, ErrSuperblock}
	}
	if t := binary.LittleEndian.Uint32(b[12:]); t != 1 {
		return p, &FieldError{"superblock.hash_type", fmt.Sprintf("%d (only type 1 is supported)", t), ErrSuperblock}
	}
	copy(p.UUID[:], b[16:32])
	alg := b[32:64]
	n := bytes.IndexByte(alg, 0)
	if n < 0 {
		return p, &FieldError{"superblock.algorithm", "not NUL-terminated", ErrSuperblock}
	}
	p.HashAlgo = string(alg[:n])
	if _, err := newHash(p.HashAlgo); err != nil {
		return p, &FieldError{"superblock.algorithm", fmt.Sprintf("%q", p.HashAlgo), ErrSuperblock}
	}
	if !isZero(alg[n:]) {
		return p, &FieldError{"superblock.algorithm", "garbage after the NUL", ErrSuperblock}
	}
	p.DataBlockSize = int(binary.LittleEndian.Uint32(b[64:]))
	if !validBlockSize(p.DataBlockSize) {
		return p, &FieldError{"superblock.data_block_size", p.DataBlockSize, ErrSuperblock}
	}
	p.HashBlockSize = int(binary.LittleEndian.Uint32(b[68:]))
	if !validBlockSize(p.HashBlockSize) {
		return p, &FieldError{"superblock.hash_block_size", p.HashBlockSize, ErrSuperblock}
	}
	p.DataBlocks = binary.LittleEndian.Uint64(b[72:])
	if p.DataBlocks == 0 || p.DataBlocks > (1<<63-1)/uint64(p.DataBlockSize) {
		return p, &FieldError{"superblock.data_blocks", p.DataBlocks, ErrSuperblock}
	}
	ss := int(binary.LittleEndian.Uint16(b[80:]))
	if ss > MaxSaltSize {
		return p, &FieldError{"superblock.salt_size", ss, ErrSuperblock}
	}
	if !isZero(b[82:88]) {
		return p, &FieldError{"superblock.pad1", "not zero", ErrSuperblock}
	}
	p.Salt = append([]byte{}, b[88:88+ss]...)
	if !isZero(b[88+ss : 88+MaxSaltSize]) {
		return p, &FieldError{"superblock.salt", "bytes after salt_size are not zero", ErrSuperblock}
	}
	if _, err := newGeometry(p); err != nil {
		return p, &FieldError{"superblock.data_blocks", p.DataBlocks, ErrSuperblock}
	}
	return p, nil
}

// ReadSuperblock reads and checks the superblock at offset off of r.
func ReadSuperblock(r io.ReaderAt, off int64) (Params, error) {
	b := make([]byte, superblockSize)
	if _, err := r.ReadAt(b, off); err != nil {
		return Params{}, fmt.Errorf("%w: superblock at offset %d: %w", ErrShortRead, off, err)
	}
	return ParseSuperblock(b)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
