package verity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
	"github.com/hardvm/hardvm/internal/sparse"
)

// TestFormatJobsMatchVeritysetup checks the pipelined tree against
// veritysetup on data whose size is no multiple of the fan-out at any of
// its three levels (128*128 + 5*128 + 77 data blocks: the last leaf, level
// 1 and level 2 blocks are all partial), with jobs that do and do not line
// up with the upper levels' blocks, more jobs than the collector's window,
// one worker and more workers than cores, through a mapped file and
// through plain reads.
func TestFormatJobsMatchVeritysetup(t *testing.T) {
	dir := t.TempDir()
	const blocks = 128*128 + 5*128 + 77
	data := makeData(t, dir, 4096, 22, region{'r', 300}, region{'h', 9000}, region{'z', 40}, region{'r', 700}, region{'h', blocks - 10040})
	p := Params{Salt: []byte("not a multiple of the fan-out"), UUID: testUUID}
	theirs := filepath.Join(dir, "hash.veritysetup")
	want := veritysetupFormat(t, data, theirs, mustDefaults(t, p))
	wantTree, err := os.ReadFile(theirs)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	cases := []struct {
		chunk, workers int
	}{
		{2 << 20, 1},         // the default chunk: 4 leaf blocks a job
		{2 << 20, 2},         //
		{4096, 3},            // one leaf block a job: 134 jobs, more than the window
		{3 * 512 << 10, 2},   // 3 leaf blocks a job: jobs straddle level-1 blocks
		{64 << 20, 2},        // one job holds all the data
		{5 * 512 << 10, 16},  // more workers than jobs can keep busy
		{7 * 512 << 10, 100}, // more workers than jobs
	}
	for _, c := range cases {
		for _, src := range []string{"file", "bytes"} {
			t.Run(fmt.Sprintf("chunk=%d/workers=%d/%s", c.chunk, c.workers, src), func(t *testing.T) {
				var hash writerAt
				var r = map[string]interface {
					ReadAt([]byte, int64) (int, error)
				}{"file": df, "bytes": bytes.NewReader(raw)}[src]
				root, err := Format(context.Background(), r, int64(len(raw)), &hash, p, WithChunkSize(c.chunk), WithConcurrency(c.workers))
				if err != nil {
					t.Fatal(err)
				}
				if root.String() != want {
					t.Fatalf("root %s, veritysetup %s", root, want)
				}
				if !bytes.Equal(hash.b, wantTree) {
					t.Fatalf("hash area differs from veritysetup's (%d vs %d bytes) at byte %d", len(hash.b), len(wantTree), firstDiff(hash.b, wantTree))
				}
			})
		}
	}
	ours := filepath.Join(dir, "hash.ours")
	root := formatFile(t, data, ours, p)
	if err := veritysetupVerify(t, data, ours, root); err != nil {
		t.Fatal(err)
	}
}

// patternData is a data device of size bytes whose extents read as a
// repeating block of random bytes and the rest as zeros, with no file
// behind it.
type patternData struct {
	pat  []byte
	size int64
	ext  []sparse.Extent
}

func (d *patternData) ReadAt(b []byte, off int64) (int, error) {
	for n := 0; n < len(b); {
		i := (off + int64(n)) % int64(len(d.pat))
		n += copy(b[n:], d.pat[i:])
	}
	return len(b), nil
}

func (d *patternData) Extents() []sparse.Extent { return d.ext }

// discardAt is an io.WriterAt that keeps nothing.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// TestMemoryBounded formats 8 MiB of data as a 1 GiB and as a 64 GiB
// sparse data device and checks, from the runtime's own memory statistics
// (vdisktest.PeakHeap), that Format's heap is bounded and does not grow
// with the size (a digest kept per leaf hash block, as before the levels
// were pipelined, adds 4 MiB at 64 GiB). It does not run in parallel with
// other tests, whose memory the statistics would count.
func TestMemoryBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	pat := make([]byte, 1<<20+4096)
	for i := range pat {
		pat[i] = byte(rng.Uint32())
	}
	var peak [2]uint64
	for i, size := range []int64{1 << 30, 64 << 30} {
		d := &patternData{pat: pat, size: size, ext: []sparse.Extent{{Offset: 0, Length: 4 << 20}, {Offset: size - 4<<20, Length: 4 << 20}}}
		var err error
		peak[i] = vdisktest.PeakHeap(func() { _, err = Format(context.Background(), d, size, discardAt{}, Params{Salt: []byte("memory")}) })
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%2d GiB of data (8 MiB not a hole): peak heap %.1f MiB", size>>30, float64(peak[i])/(1<<20))
	}
	if peak[1] > 16<<20 {
		t.Errorf("formatting 64 GiB peaked at a heap of %d MiB (bound 16 MiB)", peak[1]>>20)
	}
	if peak[1] > peak[0]+2<<20 {
		t.Errorf("64 GiB needed %d KiB more heap than 1 GiB (bound 2048 KiB)", (peak[1]-peak[0])>>10)
	}
}

// TestMappedFileShrinks truncates a data file after it is mapped: reading
// the mapping past the new end faults, and the worker turns the fault into
// ErrShortRead instead of crashing the program.
func TestMappedFileShrinks(t *testing.T) {
	dir := t.TempDir()
	data := makeData(t, dir, 4096, 5, region{'r', 512})
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Params{}.resolve(512 * 4096)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGeometry(p)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree(g, defaultOptions())
	m, err := newMapReader(f, 0, 512*4096)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	j := &job{first: 1, count: 2, blocks: make([]byte, 2*4096), digests: make([]byte, 2*32)}
	errc := make(chan error, 1)
	go func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		errc <- tr.newWorker(nil, m).leafJob(j)
	}()
	if err := <-errc; !errors.Is(err, ErrShortRead) {
		t.Fatalf("leafJob on a truncated mapping: %v, want ErrShortRead", err)
	}
}
