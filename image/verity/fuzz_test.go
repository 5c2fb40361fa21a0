package verity

import (
	"bytes"
	"testing"
)

// FuzzParseSuperblock feeds untrusted superblocks to ParseSuperblock: it
// must never panic, and whatever it accepts must encode back to the same
// bytes (the parser accepts nothing the writer would not write).
func FuzzParseSuperblock(f *testing.F) {
	good := marshalSuperblock(Params{HashAlgo: SHA256, DataBlockSize: 4096, HashBlockSize: 4096, Salt: []byte{1, 2, 3}, UUID: testUUID, DataBlocks: 1000})
	f.Add(good)
	f.Add(marshalSuperblock(Params{HashAlgo: SHA512, DataBlockSize: 512, HashBlockSize: 65536, Salt: bytes.Repeat([]byte{9}, 256), DataBlocks: 1 << 40}))
	f.Add(good[:100])
	bad := bytes.Clone(good)
	bad[80] = 0xff // salt size 255 with zero salt bytes is fine; 0x1ff is not
	bad[81] = 0x01
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseSuperblock(b)
		if err != nil {
			return
		}
		// Bytes 344-511 are padding that veritysetup does not check either.
		if again := marshalSuperblock(p); !bytes.Equal(again[:344], b[:344]) {
			t.Fatalf("accepted superblock does not re-encode to itself: %+v", p)
		}
		if _, err := newGeometry(p); err != nil {
			t.Fatalf("accepted superblock has no geometry: %v", err)
		}
	})
}
