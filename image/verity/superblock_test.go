package verity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestParseSuperblockVeritysetup reads a superblock that veritysetup wrote.
func TestParseSuperblockVeritysetup(t *testing.T) {
	dir := t.TempDir()
	data := makeData(t, dir, 4096, 1, region{'r', 10})
	hash := filepath.Join(dir, "hash")
	p := Params{HashAlgo: SHA512, DataBlockSize: 4096, HashBlockSize: 4096, Salt: []byte{0xde, 0xad}, UUID: testUUID}
	veritysetupFormat(t, data, hash, p)
	f, err := os.Open(hash)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadSuperblock(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.DataBlocks = 10
	if got.HashAlgo != p.HashAlgo || got.DataBlocks != 10 || got.UUID != p.UUID || !bytes.Equal(got.Salt, p.Salt) ||
		got.DataBlockSize != 4096 || got.HashBlockSize != 4096 {
		t.Fatalf("ReadSuperblock = %+v, want %+v", got, p)
	}
}

func TestParseSuperblockRejects(t *testing.T) {
	good := marshalSuperblock(Params{HashAlgo: SHA256, DataBlockSize: 4096, HashBlockSize: 4096, Salt: []byte{1}, DataBlocks: 8})
	if _, err := ParseSuperblock(good); err != nil {
		t.Fatalf("good superblock: %v", err)
	}
	u32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	cases := []struct {
		name  string
		mut   func([]byte)
		field string
	}{
		{"signature", func(b []byte) { b[0] = 'V' }, "superblock.signature"},
		{"version", u32(8, 2), "superblock.version"},
		{"chrome os hash type", u32(12, 0), "superblock.hash_type"},
		{"algorithm", func(b []byte) { copy(b[32:], "md5\x00\x00\x00") }, "superblock.algorithm"},
		{"algorithm not terminated", func(b []byte) { copy(b[32:64], bytes.Repeat([]byte{'a'}, 32)) }, "superblock.algorithm"},
		{"algorithm trailing garbage", func(b []byte) { b[40] = 'x' }, "superblock.algorithm"},
		{"data block size", u32(64, 4095), "superblock.data_block_size"},
		{"hash block size", u32(68, 1<<20), "superblock.hash_block_size"},
		{"zero data blocks", func(b []byte) { binary.LittleEndian.PutUint64(b[72:], 0) }, "superblock.data_blocks"},
		{"absurd data blocks", func(b []byte) { binary.LittleEndian.PutUint64(b[72:], 1<<62) }, "superblock.data_blocks"},
		{"salt size", func(b []byte) { binary.LittleEndian.PutUint16(b[80:], 257) }, "superblock.salt_size"},
		{"padding", func(b []byte) { b[84] = 1 }, "superblock.pad1"},
		{"bytes after salt", func(b []byte) { b[88+5] = 1 }, "superblock.salt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(good)
			c.mut(b)
			_, err := ParseSuperblock(b)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrSuperblock) {
				t.Fatalf("ParseSuperblock = %v, want a FieldError for %s", err, c.field)
			}
		})
	}
	if _, err := ParseSuperblock(good[:511]); !errors.Is(err, ErrSuperblock) {
		t.Fatalf("short superblock: %v", err)
	}
	if _, err := ReadSuperblock(bytes.NewReader(good[:300]), 0); !errors.Is(err, ErrShortRead) {
		t.Fatalf("short device: %v", err)
	}
}
