package verity

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/progress"
)

var testUUID = [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}

func uuidString(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// region is a run of a test data file: random bytes, explicit zeros or a
// hole, in data blocks.
type region struct {
	kind   byte // 'r' random, 'z' written zeros, 'h' hole
	blocks int
}

// makeData writes a data file of the given regions and returns its path.
func makeData(t testing.TB, dir string, bs int, seed uint64, regions ...region) string {
	t.Helper()
	path := filepath.Join(dir, "data")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var off int64
	for _, r := range regions {
		n := int64(r.blocks * bs)
		switch r.kind {
		case 'r':
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			if _, err := f.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		case 'z':
			if _, err := f.WriteAt(make([]byte, n), off); err != nil {
				t.Fatal(err)
			}
		}
		off += n
	}
	if err := f.Truncate(off); err != nil {
		t.Fatal(err)
	}
	return path
}

// veritysetupFormat runs the real tool and returns its root hash.
func veritysetupFormat(t testing.TB, data, hash string, p Params, extra ...string) string {
	t.Helper()
	salt := hex.EncodeToString(p.Salt)
	if salt == "" {
		salt = "-"
	}
	args := []string{"format", "--hash", p.HashAlgo, "--salt", salt, "--uuid", uuidString(p.UUID),
		"--data-block-size", fmt.Sprint(p.DataBlockSize), "--hash-block-size", fmt.Sprint(p.HashBlockSize)}
	args = append(args, extra...)
	args = append(args, data, hash)
	out := testtool.Run(t, "veritysetup", args...)
	m := regexp.MustCompile(`Root hash:\s+([0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no root hash in veritysetup output:\n%s", out)
	}
	return m[1]
}

func veritysetupVerify(t testing.TB, data, hash string, root RootHash, extra ...string) error {
	t.Helper()
	testtool.Require(t, "veritysetup")
	args := append([]string{"verify"}, extra...)
	args = append(args, data, hash, root.String())
	out, err := exec.Command("veritysetup", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("veritysetup verify: %v: %s", err, out)
	}
	return nil
}

func formatFile(t testing.TB, data, hash string, p Params, opts ...Option) RootHash {
	t.Helper()
	df, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	fi, _ := df.Stat()
	hf, err := os.OpenFile(hash, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	root, err := Format(context.Background(), df, fi.Size(), hf, p, opts...)
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	return root
}

func verifyFile(t testing.TB, data, hash string, root RootHash, opts ...Option) error {
	t.Helper()
	df, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	hf, err := os.Open(hash)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	return Verify(context.Background(), df, hf, root, opts...)
}

func TestFormatMatchesVeritysetup(t *testing.T) {
	salt32 := bytes.Repeat([]byte{0xa5, 0x5a, 0x01, 0x02}, 8)
	salt256 := bytes.Repeat([]byte{0x42}, 256)
	cases := []struct {
		name    string
		p       Params
		regions []region
	}{
		{"one block", Params{Salt: salt32}, []region{{'r', 1}}},
		{"two blocks", Params{Salt: salt32}, []region{{'r', 2}}},
		{"one full leaf block", Params{Salt: salt32}, []region{{'r', 128}}},
		{"one leaf block and one more", Params{Salt: salt32}, []region{{'r', 129}}},
		{"mixed zeros and holes", Params{Salt: salt32}, []region{{'r', 100}, {'z', 300}, {'h', 700}, {'r', 3}, {'h', 129}, {'z', 1}}},
		{"three levels, mostly a hole", Params{Salt: salt32}, []region{{'r', 5}, {'h', 16384 - 10}, {'r', 6}}},
		{"all hole", Params{Salt: salt32}, []region{{'h', 1000}}},
		{"empty salt", Params{}, []region{{'r', 300}, {'h', 200}}},
		{"256-byte salt", Params{Salt: salt256}, []region{{'r', 300}}},
		{"sha512", Params{HashAlgo: SHA512, Salt: salt32}, []region{{'r', 70}, {'h', 100}, {'z', 64}, {'r', 1}}},
		{"sha512 three levels", Params{HashAlgo: SHA512, Salt: salt32}, []region{{'r', 3}, {'h', 4096}, {'r', 2}}},
		{"small hash blocks", Params{Salt: salt32, HashBlockSize: 512}, []region{{'r', 40}, {'h', 300}, {'r', 1}}},
		{"small data blocks", Params{Salt: salt32, DataBlockSize: 1024, HashBlockSize: 1024}, []region{{'r', 700}, {'h', 33}}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := c.p
			p.UUID = testUUID
			p.UUID[15] = byte(i)
			full, err := p.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			data := makeData(t, dir, full.DataBlockSize, uint64(i), c.regions...)
			theirs := filepath.Join(dir, "hash.veritysetup")
			ours := filepath.Join(dir, "hash.ours")
			want := veritysetupFormat(t, data, theirs, full)
			got := formatFile(t, data, ours, p, WithChunkSize(4096))
			if got.String() != want {
				t.Fatalf("root hash %s, veritysetup %s", got, want)
			}
			a, _ := os.ReadFile(theirs)
			b, _ := os.ReadFile(ours)
			if !bytes.Equal(a, b) {
				t.Fatalf("hash device differs from veritysetup's (%d vs %d bytes) at byte %d", len(b), len(a), firstDiff(a, b))
			}
			size, err := HashSize(int64(sum(c.regions))*int64(full.DataBlockSize), p)
			if err != nil || size != int64(len(a)) {
				t.Errorf("HashSize = %d, %v; veritysetup wrote %d bytes", size, err, len(a))
			}
			if err := veritysetupVerify(t, data, ours, got); err != nil {
				t.Fatal(err)
			}
			if err := verifyFile(t, data, theirs, got); err != nil {
				t.Fatalf("Verify of veritysetup's tree: %v", err)
			}
		})
	}
}

func sum(rs []region) (n int) {
	for _, r := range rs {
		n += r.blocks
	}
	return n
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFlippedByte flips one data byte: both our Verify and veritysetup's
// reject it, and ours names the block.
func TestFlippedByte(t *testing.T) {
	dir := t.TempDir()
	data := makeData(t, dir, 4096, 7, region{'r', 300}, region{'h', 200}, region{'r', 20})
	hash := filepath.Join(dir, "hash")
	root := formatFile(t, data, hash, Params{Salt: []byte("salt"), UUID: testUUID})
	if err := verifyFile(t, data, hash, root); err != nil {
		t.Fatalf("Verify before the flip: %v", err)
	}
	for _, block := range []int64{0, 257, 400, 519} {
		t.Run(fmt.Sprint("block ", block), func(t *testing.T) {
			f, err := os.OpenFile(data, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			off := block*4096 + 1234
			b := make([]byte, 1)
			f.ReadAt(b, off)
			flip := []byte{b[0] ^ 0x01}
			f.WriteAt(flip, off)
			defer f.WriteAt(b, off)

			err = verifyFile(t, data, hash, root)
			var be *BlockError
			if !errors.As(err, &be) || !errors.Is(err, ErrMismatch) || !errors.Is(err, ErrVerify) {
				t.Fatalf("Verify = %v, want a *BlockError wrapping ErrMismatch", err)
			}
			if be.Device != "data" || be.Block != uint64(block) || be.Level != 0 {
				t.Fatalf("Verify names %s block %d level %d, want data block %d", be.Device, be.Block, be.Level, block)
			}
			if err := veritysetupVerify(t, data, hash, root); err == nil {
				t.Fatal("veritysetup verify accepted the flipped byte")
			}
		})
	}
}

func TestVerifyTamperedHash(t *testing.T) {
	dir := t.TempDir()
	data := makeData(t, dir, 4096, 8, region{'r', 300})
	hash := filepath.Join(dir, "hash")
	root := formatFile(t, data, hash, Params{Salt: []byte("s"), UUID: testUUID})
	orig, _ := os.ReadFile(hash)
	// Layout: superblock block 0, level 1 (one block) at 1, leaves at 2..4.
	cases := []struct {
		name   string
		off    int
		device string
		block  uint64
	}{
		{"top level", 4096 + 5, "hash", 1},
		{"leaf digest", 3*4096 + 32*7 + 3, "data", 128 + 7},
		{"leaf padding", 4*4096 + 32*44 + 1, "hash", 4}, // 300-256 = 44 digests in the last leaf block
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			b[c.off] ^= 0x80
			if err := os.WriteFile(hash, b, 0o644); err != nil {
				t.Fatal(err)
			}
			err := verifyFile(t, data, hash, root)
			var be *BlockError
			if !errors.As(err, &be) || be.Device != c.device || be.Block != c.block {
				t.Fatalf("Verify = %v, want %s block %d", err, c.device, c.block)
			}
			if err := veritysetupVerify(t, data, hash, root); err == nil {
				t.Fatal("veritysetup verify accepted the tampered hash device")
			}
		})
	}
	os.WriteFile(hash, orig, 0o644)
	wrong := bytes.Clone(root)
	wrong[0] ^= 1
	if err := verifyFile(t, data, hash, wrong); !errors.Is(err, ErrRootHash) {
		t.Fatalf("Verify with a wrong root = %v, want ErrRootHash", err)
	}
}

// TestHashOffset puts the hash area inside a bigger file, as a verity
// partition sits inside a disk.
func TestHashOffset(t *testing.T) {
	dir := t.TempDir()
	data := makeData(t, dir, 4096, 9, region{'r', 200}, region{'h', 56})
	const off = 1 << 20
	p := Params{Salt: []byte{1, 2, 3}, UUID: testUUID}
	full, _ := p.withDefaults()
	theirs := filepath.Join(dir, "disk.veritysetup")
	ours := filepath.Join(dir, "disk.ours")
	for _, f := range []string{theirs, ours} {
		// Garbage around and under the hash area, as an old disk would have.
		if err := os.WriteFile(f, bytes.Repeat([]byte{0xee}, 2<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := veritysetupFormat(t, data, theirs, full, "--hash-offset", fmt.Sprint(off))
	got := formatFile(t, data, ours, p, WithHashOffset(off))
	if got.String() != want {
		t.Fatalf("root %s, veritysetup %s", got, want)
	}
	a, _ := os.ReadFile(theirs)
	b, _ := os.ReadFile(ours)
	size, _ := HashSize(256*4096, p)
	// veritysetup leaves the bytes after the 512-byte superblock alone; we
	// zero them. Compare the superblock and the tree.
	if !bytes.Equal(a[off:off+512], b[off:off+512]) || !bytes.Equal(a[off+4096:off+size], b[off+4096:off+size]) {
		t.Fatal("hash area differs from veritysetup's")
	}
	if !bytes.Equal(b[:off], a[:off]) || !bytes.Equal(b[off+size:], a[off+size:]) {
		t.Fatal("Format wrote outside the hash area")
	}
	if err := veritysetupVerify(t, data, ours, got, "--hash-offset", fmt.Sprint(off)); err != nil {
		t.Fatal(err)
	}
	if err := verifyFile(t, data, ours, got, WithHashOffset(off)); err != nil {
		t.Fatal(err)
	}
}

// TestSources checks that every way of reading the data gives the same
// root: a sparse file (extents), a section of a file (extents shifted), a
// plain reader (every block read), one worker or many.
func TestSources(t *testing.T) {
	dir := t.TempDir()
	data := makeData(t, dir, 4096, 10, region{'h', 3}, region{'r', 150}, region{'h', 300}, region{'z', 129}, region{'r', 2})
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	p := Params{Salt: []byte("sources"), UUID: testUUID}
	want := veritysetupFormat(t, data, filepath.Join(dir, "h"), mustDefaults(t, p))

	// The same data at offset 3 MiB inside a bigger sparse file.
	outer := filepath.Join(dir, "outer")
	of, _ := os.Create(outer)
	of.WriteAt(bytes.Repeat([]byte{0xff}, 1<<20), 0)
	of.WriteAt(raw, 3<<20)
	of.WriteAt(bytes.Repeat([]byte{0xff}, 1<<20), 3<<20+int64(len(raw)))
	defer of.Close()
	df, _ := os.Open(data)
	defer df.Close()

	sources := map[string]io.ReaderAt{
		"file":    df,
		"section": io.NewSectionReader(of, 3<<20, int64(len(raw))),
		"bytes":   bytes.NewReader(raw),
	}
	for name, src := range sources {
		for _, workers := range []int{1, 3} {
			var hash writerAt
			root, err := Format(context.Background(), src, int64(len(raw)), &hash, p, WithConcurrency(workers), WithChunkSize(8192))
			if err != nil {
				t.Fatalf("%s, %d workers: %v", name, workers, err)
			}
			if root.String() != want {
				t.Fatalf("%s, %d workers: root %s, want %s", name, workers, root, want)
			}
		}
	}
}

func mustDefaults(t testing.TB, p Params) Params {
	t.Helper()
	p, err := p.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writerAt is an in-memory io.WriterAt for tests, safe for the parallel
// WriteAt calls that io.WriterAt allows.
type writerAt struct {
	mu sync.Mutex
	b  []byte
}

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	return copy(w.b[off:], p), nil
}

func TestFormatRejects(t *testing.T) {
	data := bytes.NewReader(make([]byte, 8192))
	cases := []struct {
		name  string
		size  int64
		p     Params
		opts  []Option
		field string
	}{
		{"unknown algorithm", 8192, Params{HashAlgo: "md5"}, nil, "hash_algo"},
		{"block size not a power of two", 8192, Params{DataBlockSize: 3000}, nil, "data_block_size"},
		{"hash block too small", 8192, Params{HashBlockSize: 256}, nil, "hash_block_size"},
		{"salt too long", 8192, Params{Salt: make([]byte, 257)}, nil, "salt"},
		{"partial block", 8000, Params{}, nil, "data_size"},
		{"empty", 0, Params{}, nil, "data_blocks"},
		{"more blocks than data", 8192, Params{DataBlocks: 3}, nil, "data_blocks"},
		{"odd hash offset", 8192, Params{}, []Option{WithHashOffset(100)}, "hash_offset"},
		{"no workers", 8192, Params{}, []Option{WithConcurrency(0)}, "concurrency"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Format(context.Background(), data, c.size, &writerAt{}, c.p, c.opts...)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrParams) {
				t.Fatalf("Format = %v, want a FieldError for %s", err, c.field)
			}
		})
	}
	_, err := Format(context.Background(), io.NewSectionReader(data, 0, 4096), 8192, &writerAt{}, Params{})
	if !errors.Is(err, ErrShortRead) {
		t.Fatalf("Format of a short source = %v, want ErrShortRead", err)
	}
}

func TestFormatCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Format(ctx, bytes.NewReader(make([]byte, 1<<20)), 1<<20, &writerAt{}, Params{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Format with a cancelled context = %v", err)
	}
}

func TestProgress(t *testing.T) {
	const size = 4 << 20
	var last, calls int64
	_, err := Format(context.Background(), bytes.NewReader(make([]byte, size)), size, &writerAt{}, Params{},
		WithProgress(progress.Func(func(stage string, done, total int64) {
			if stage != "verity" || total != size || done < last {
				t.Errorf("progress(%q, %d, %d) after %d", stage, done, total, last)
			}
			last = done
			calls++
		})))
	if err != nil {
		t.Fatal(err)
	}
	if last != size || calls < 2 {
		t.Fatalf("progress ended at %d after %d calls, want %d", last, calls, size)
	}
}

func TestRootHashText(t *testing.T) {
	h, err := ParseRootHash(strings.Repeat("ab", 32))
	if err != nil || len(h) != 32 || h.String() != strings.Repeat("ab", 32) || h.Hex() != h.String() {
		t.Fatalf("ParseRootHash = %v, %v", h, err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("ab", 31), strings.Repeat("a", 63)} {
		if _, err := ParseRootHash(bad); !errors.Is(err, ErrBadRootHash) {
			t.Errorf("ParseRootHash(%q) = %v, want ErrBadRootHash", bad, err)
		}
	}
	var back RootHash
	txt, _ := h.MarshalText()
	if err := back.UnmarshalText(txt); err != nil || !back.Equal(h) {
		t.Fatalf("text round trip: %v %v", back, err)
	}
}

// holeTrap is a data source with extents whose holes must never be read.
type holeTrap struct {
	r   io.ReaderAt
	ext []sparse.Extent
	t   testing.TB
}

func (h *holeTrap) Extents() []sparse.Extent { return h.ext }

func (h *holeTrap) ReadAt(p []byte, off int64) (int, error) {
	for _, e := range h.ext {
		if off >= e.Offset && off+int64(len(p)) <= e.End() {
			return h.r.ReadAt(p, off)
		}
	}
	h.t.Errorf("read of %d bytes at %d is outside the data extents", len(p), off)
	return 0, errors.New("read in a hole")
}

// TestHolesNotRead checks that a source's holes are never read and still
// hash as zeros.
func TestHolesNotRead(t *testing.T) {
	raw := make([]byte, 1000*4096)
	for i := 0; i < 4096*10; i++ {
		raw[200*4096+i] = byte(i * 7)
	}
	raw[999*4096] = 1
	want, err := Format(context.Background(), bytes.NewReader(raw), int64(len(raw)), &writerAt{}, Params{Salt: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	src := &holeTrap{r: bytes.NewReader(raw), t: t, ext: []sparse.Extent{{Offset: 200 * 4096, Length: 10 * 4096}, {Offset: 999 * 4096, Length: 4096}}}
	got, err := Format(context.Background(), src, int64(len(raw)), &writerAt{}, Params{Salt: []byte("x")}, WithChunkSize(4096))
	if err != nil || !got.Equal(want) {
		t.Fatalf("Format of a sparse source = %s, %v; want %s", got, err, want)
	}
}
