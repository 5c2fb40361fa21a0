package bootdisk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/hardvm/hardvm/image/verity"
)

// hashBuf is an in-memory io.WriterAt for the hash device.
type hashBuf struct{ b []byte }

func (w *hashBuf) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}

// TestVerifiedAgainstFormat reads data through the verifying reader with
// trees that verity.Format (checked against veritysetup in its own tests)
// wrote: SHA-256 and SHA-512, 4 KiB and 512-byte blocks, salted, one
// block (no tree levels) to three levels. Every byte reads back; one
// flipped data or hash byte fails with a BlockError at the right device.
func TestVerifiedAgainstFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name   string
		p      verity.Params
		blocks int
	}{
		{"sha256-4k", verity.Params{Salt: []byte("salt")}, 300},
		{"sha512-4k", verity.Params{HashAlgo: verity.SHA512}, 130},
		{"one-block", verity.Params{}, 1},
		{"sha256-512-three-levels", verity.Params{DataBlockSize: 512, HashBlockSize: 512, Salt: []byte{1, 2, 3}}, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbs := tc.p.DataBlockSize
			if dbs == 0 {
				dbs = 4096
			}
			data := make([]byte, tc.blocks*dbs)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			var h hashBuf
			root, err := verity.Format(context.Background(), bytes.NewReader(data), int64(len(data)), &h, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			p, err := verity.ReadSuperblock(bytes.NewReader(h.b), 0)
			if err != nil {
				t.Fatal(err)
			}
			open := func(data, hash []byte) *verified {
				v, err := newVerified(bytes.NewReader(data), int64(len(data)), bytes.NewReader(hash), int64(len(hash)), p, root)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			got, err := io.ReadAll(io.NewSectionReader(open(data, h.b), 0, int64(len(data))))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes: %v", len(got), err)
			}
			bad := bytes.Clone(data)
			bad[len(bad)-7] ^= 1
			var be *BlockError
			if _, err := open(bad, h.b).ReadAt(make([]byte, 10), int64(len(bad)-10)); !errors.As(err, &be) || be.Device != "data" || be.Block != uint64(tc.blocks-1) {
				t.Errorf("flipped data byte: %v", err)
			}
			if tc.blocks > 1 {
				badHash := bytes.Clone(h.b)
				badHash[len(badHash)-p.HashBlockSize+3] ^= 1 // a leaf block
				if _, err := open(data, badHash).ReadAt(make([]byte, 10), int64(len(data)-10)); !errors.As(err, &be) || be.Device != "hash" {
					t.Errorf("flipped hash byte: %v", err)
				}
			}
			wrong := bytes.Clone(root)
			wrong[0] ^= 1
			v, err := newVerified(bytes.NewReader(data), int64(len(data)), bytes.NewReader(h.b), int64(len(h.b)), p, wrong)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrVerity) {
				t.Errorf("another root hash: %v", err)
			}
			if _, err := newVerified(bytes.NewReader(data), int64(len(data)), bytes.NewReader(h.b[:len(h.b)/2]), int64(len(h.b)/2), p, root); tc.blocks > 1 && !errors.Is(err, ErrVerity) {
				t.Errorf("truncated hash device: %v", err)
			}
		})
	}
}
