package verity_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hardvm/hardvm/image/verity"
)

// memDevice is an in-memory hash device (an io.WriterAt and io.ReaderAt),
// safe for parallel use as those interfaces require.
type memDevice struct {
	mu sync.Mutex
	b  []byte
}

func (m *memDevice) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memDevice) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copy(p, m.b[off:]), nil
}

func Example() {
	// 64 KiB of data: 16 blocks of 4 KiB. The root hash below is the one
	// `veritysetup format --salt <hex of the salt> --uuid 8b1d7a3c-...` prints
	// for the same data.
	data := bytes.Repeat([]byte("hardvm!\n"), 64<<10/8)
	p := verity.Params{
		Salt: []byte("derived from the build inputs"),
		UUID: [16]byte{0x8b, 0x1d, 0x7a, 0x3c, 0x55, 0x0e, 0x4f, 0x21, 0x9a, 0x6b, 0x0c, 0x2d, 0x3e, 0x4f, 0x50, 0x61},
	}
	size, _ := verity.HashSize(int64(len(data)), p)
	var hash memDevice
	root, err := verity.Format(context.Background(), bytes.NewReader(data), int64(len(data)), &hash, p)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("root hash:", root)
	fmt.Println("hash area:", size, "bytes")

	fmt.Println("verify:", verity.Verify(context.Background(), bytes.NewReader(data), &hash, root))
	data[5*4096+17] ^= 1
	err = verity.Verify(context.Background(), bytes.NewReader(data), &hash, root)
	var be *verity.BlockError
	if errors.As(err, &be) {
		fmt.Println("tampered:", be.Device, "block", be.Block)
	}
	// Output:
	// root hash: e0c75013b0347e47c7f613c65abdb11f84ff03bcf29e54eb0a7f53067c42d6f8
	// hash area: 8192 bytes
	// verify: <nil>
	// tampered: data block 5
}
