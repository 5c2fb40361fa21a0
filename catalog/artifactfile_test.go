package catalog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// layout is a file to write: data at offsets, holes elsewhere, size bytes.
type layout struct {
	size int64
	data map[int64][]byte
}

// write writes the layout to a new file and returns it as an artifact
// with its true digest, and the content.
func (l layout) write(t testing.TB) (artifact.Artifact, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, l.size)
	for off, b := range l.data {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], b)
	}
	if err := f.Truncate(l.size); err != nil {
		t.Fatal(err)
	}
	return artifact.Artifact{Format: vm.FormatRaw, Path: p, Size: l.size, Digest: digest.FromBytes(want)}, want
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32() | 1)
	}
	return b
}

// sparseLayout is 8 MiB with data at the start, at 3 MiB + 100 (crossing
// a 64 KiB boundary) and in the last 100 bytes.
func sparseLayout() layout {
	r := rand.New(rand.NewPCG(1, 2))
	return layout{size: 8 << 20, data: map[int64][]byte{0: randomBytes(r, 5000), 3<<20 + 100: randomBytes(r, 70000), 8<<20 - 100: randomBytes(r, 100)}}
}

// wrong returns a with a digest that is not its file's.
func wrong(a artifact.Artifact) artifact.Artifact {
	a.Digest = digest.FromString("not the content")
	return a
}

func open(t *testing.T, a artifact.Artifact, r progress.Reporter) *catalog.ArtifactFile {
	t.Helper()
	f, err := catalog.OpenArtifact(a, "test", r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// checkDigestRejection fails t unless err rejects a for its digest, with
// the data a caller needs.
func checkDigestRejection(t *testing.T, err error, a artifact.Artifact) {
	t.Helper()
	var ae *catalog.ArtifactError
	if !errors.Is(err, catalog.ErrRejected) || !errors.Is(err, catalog.ErrDigest) || !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *ArtifactError (ErrRejected, ErrDigest)", err)
	}
	if ae.Target != "test" || ae.Artifact != a.Name() || ae.Path != a.Path || ae.Rule != catalog.RuleDigest {
		t.Errorf("ArtifactError %+v", ae)
	}
	var de *catalog.DigestError
	if !errors.As(err, &de) || de.Want != a.Digest || !catalog.ValidDigest(de.Got) || de.Got == de.Want {
		t.Errorf("DigestError %+v", de)
	}
}

func TestReaderVerifies(t *testing.T) {
	a, want := sparseLayout().write(t)
	var mu sync.Mutex
	var stage string
	var done, total int64
	f := open(t, a, progress.Func(func(s string, d, n int64) { mu.Lock(); stage, done, total = s, d, n; mu.Unlock() }))
	for range 2 { // a second reader starts over, as a retry does
		got, err := io.ReadAll(f.Reader())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
	}
	if stage != "test upload disk.raw" || done != a.Size || total != a.Size {
		t.Errorf("progress %q %d/%d", stage, done, total)
	}
}

// A reader of a file whose digest is wrong returns everything but its last
// bytes, then the rejection, whatever the size of the reads.
func TestReaderWithholdsTheLastBytes(t *testing.T) {
	small := layout{size: 10000, data: map[int64][]byte{100: bytes.Repeat([]byte("x"), 9900)}}
	for _, tt := range []struct {
		l       layout
		bufSize int
	}{{small, 1}, {small, 333}, {sparseLayout(), 4096}, {sparseLayout(), 1 << 20}, {sparseLayout(), 16 << 20}} {
		a, want := tt.l.write(t)
		a = wrong(a)
		r := open(t, a, nil).Reader()
		buf := make([]byte, tt.bufSize)
		var got []byte
		var err error
		for err == nil {
			var n int
			n, err = r.Read(buf)
			got = append(got, buf[:n]...)
		}
		checkDigestRejection(t, err, a)
		if len(got) >= len(want) || !bytes.Equal(got, want[:len(got)]) {
			t.Errorf("reads of %d: %d of %d bytes released before the rejection", tt.bufSize, len(got), len(want))
		}
		if _, again := r.Read(buf); again != err {
			t.Errorf("read after the rejection: %v", again)
		}
	}
}

// io.Copy goes through WriteTo, in larger reads: the same holds.
func TestReaderWriteTo(t *testing.T) {
	a, want := sparseLayout().write(t)
	var got bytes.Buffer
	if n, err := io.Copy(&got, open(t, a, nil).Reader()); err != nil || n != a.Size || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("io.Copy: %d bytes, %v", n, err)
	}
	got.Reset()
	n, err := io.Copy(&got, open(t, wrong(a), nil).Reader())
	checkDigestRejection(t, err, wrong(a))
	if n >= a.Size || int64(got.Len()) != n || !bytes.Equal(got.Bytes(), want[:n]) {
		t.Errorf("io.Copy of a wrong digest wrote %d of %d bytes", n, a.Size)
	}
	failing := errors.New("sink full")
	if _, err := io.Copy(failWriter{failing}, open(t, a, nil).Reader()); !errors.Is(err, failing) {
		t.Errorf("io.Copy to a failing writer: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// The property that matters to registrars, over real HTTP: an upload whose
// body is a Reader with a Content-Length is never received whole when the
// digest is wrong, so a server that commits only complete bodies commits
// nothing.
func TestReaderUploadOverHTTP(t *testing.T) {
	var committed, requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err == nil && n == r.ContentLength {
			committed.Add(1)
		}
	}))
	defer srv.Close()
	a, _ := sparseLayout().write(t)
	for _, tt := range []struct {
		a    artifact.Artifact
		want int64
	}{{wrong(a), 0}, {a, 1}} {
		f := open(t, tt.a, nil)
		req, _ := http.NewRequest(http.MethodPut, srv.URL, f.Reader())
		req.ContentLength = f.Size()
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if tt.want == 0 {
			checkDigestRejection(t, err, tt.a)
		} else if err != nil {
			t.Fatal(err)
		}
		if committed.Load() != tt.want {
			t.Fatalf("server committed %d uploads, want %d", committed.Load(), tt.want)
		}
	}
}

func TestReaderFileShrank(t *testing.T) {
	a, _ := sparseLayout().write(t)
	f := open(t, a, nil)
	if err := os.Truncate(a.Path, 1<<20); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, f.Reader())
	var ae *catalog.ArtifactError
	if !errors.As(err, &ae) || ae.Rule != catalog.RuleSize {
		t.Fatalf("read of a file that shrank: %v, want rule %s", err, catalog.RuleSize)
	}
	err = f.Chunks(context.Background(), catalog.ChunkOptions{Size: 1 << 20}, func(context.Context, int64, []byte) error { return nil })
	if !errors.As(err, &ae) || ae.Rule != catalog.RuleSize {
		t.Fatalf("chunks of a file that shrank: %v, want rule %s", err, catalog.RuleSize)
	}
}

// A file that grew after it was opened is read to the size it had: what
// is hashed is what is sent.
func TestReaderBounded(t *testing.T) {
	a, want := sparseLayout().write(t)
	f := open(t, a, nil)
	g, _ := os.OpenFile(a.Path, os.O_WRONLY|os.O_APPEND, 0)
	g.Write([]byte("more"))
	g.Close()
	got, err := io.ReadAll(f.Reader())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes of a grown file, %v", len(got), err)
	}
	b := make([]byte, 10)
	if n, err := f.ReadAt(b, a.Size-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt past the size: %d, %v", n, err)
	}
	if _, err := f.ReadAt(b, -1); err == nil {
		t.Error("ReadAt at a negative offset succeeded")
	}
}

func TestOpenArtifactRejects(t *testing.T) {
	a, _ := sparseLayout().write(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		mod  func(*artifact.Artifact)
		rule string
	}{
		{"no digest", func(a *artifact.Artifact) { a.Digest = "" }, catalog.RuleDigest},
		{"sha512 digest", func(a *artifact.Artifact) { a.Digest = digest.SHA512.FromString("x") }, catalog.RuleDigest},
		{"size", func(a *artifact.Artifact) { a.Size++ }, catalog.RuleSize},
		{"directory", func(a *artifact.Artifact) { a.Path = dir }, catalog.RuleFile},
		{"fifo", func(a *artifact.Artifact) { a.Path = fifo }, catalog.RuleFile}, // not opened: that would block
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := a
			tt.mod(&b)
			_, err := catalog.OpenArtifact(b, "aws", nil)
			var ae *catalog.ArtifactError
			if !errors.Is(err, catalog.ErrRejected) || !errors.As(err, &ae) || ae.Rule != tt.rule || ae.Target != "aws" {
				t.Fatalf("OpenArtifact = %v, want rule %s", err, tt.rule)
			}
		})
	}
	b := a
	b.Path = filepath.Join(dir, "missing")
	if _, err := catalog.OpenArtifact(b, "aws", nil); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, catalog.ErrRejected) {
		t.Errorf("missing file: %v, want fs.ErrNotExist and no rejection", err)
	}
	// An artifact without a size takes the file's.
	b = a
	b.Size = 0
	if f, err := catalog.OpenArtifact(b, "aws", nil); err != nil || f.Size() != a.Size {
		t.Fatalf("no size: %v", err)
	} else {
		f.Close()
	}
}

// sent records what Chunks sends.
type sent struct {
	mu     sync.Mutex
	chunks map[int64][]byte
	busy   atomic.Int64
	most   atomic.Int64
	bufs   map[*byte]bool
}

func (s *sent) send(ctx context.Context, off int64, b []byte) error {
	n := s.busy.Add(1)
	defer s.busy.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chunks == nil {
		s.chunks, s.bufs = map[int64][]byte{}, map[*byte]bool{}
	}
	s.chunks[off] = bytes.Clone(b)
	s.bufs[&b[:1][0]] = true
	return nil
}

// image returns the file a target holding the sent chunks has: zeros where
// nothing was sent.
func (s *sent) image(size int64) []byte {
	out := make([]byte, size)
	for off, b := range s.chunks {
		copy(out[off:], b)
	}
	return out
}

func TestChunksSparse(t *testing.T) {
	l := sparseLayout()
	a, want := l.write(t)
	ext, err := extents(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	if sparse.DataBytes(ext) >= a.Size/2 {
		t.Fatalf("this file system keeps no holes (%d data bytes of %d): the test proves nothing", sparse.DataBytes(ext), a.Size)
	}
	const chunk = 64 << 10
	var (
		mu          sync.Mutex // a Reporter is called concurrently (its contract)
		last, total int64
	)
	f := open(t, a, progress.Func(func(_ string, d, n int64) { mu.Lock(); last, total = d, n; mu.Unlock() }))
	var s sent
	if err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: chunk, Workers: 3, Sparse: true}, s.send); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.image(a.Size), want) {
		t.Fatal("the chunks sent do not make the file")
	}
	// Exactly the chunks that hold data: 5000 bytes at 0, 70000 at 3 MiB +
	// 100 (two chunks), the last 100 bytes.
	for off, b := range s.chunks {
		if off%chunk != 0 || int64(len(b)) != min(chunk, a.Size-off) {
			t.Errorf("chunk at %d of %d bytes", off, len(b))
		}
	}
	if len(s.chunks) != 4 {
		t.Errorf("%d chunks sent, want 4 (holes are not sent)", len(s.chunks))
	}
	if s.most.Load() > 3 || len(s.bufs) > 4 {
		t.Errorf("%d sends at once, %d buffers: want at most 3 and 4", s.most.Load(), len(s.bufs))
	}
	if last != a.Size || total != a.Size {
		t.Errorf("progress ended at %d/%d", last, total)
	}
}

// With Align, chunks are cut to the data: aligned, never across a multiple
// of Size, covering every data byte and little else.
func TestChunksAligned(t *testing.T) {
	a, want := sparseLayout().write(t)
	f := open(t, a, nil)
	var s sent
	const size, align = 64 << 10, 4096
	if err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: size, Workers: 2, Sparse: true, Align: align}, s.send); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.image(a.Size), want) {
		t.Fatal("the chunks sent do not make the file")
	}
	var total int64
	for off, b := range s.chunks {
		end := off + int64(len(b))
		if off%align != 0 || (end%align != 0 && end != a.Size) || off/size != (end-1)/size {
			t.Errorf("chunk [%d, %d) not aligned to %d or across a multiple of %d", off, end, align, size)
		}
		total += int64(len(b))
	}
	// 5000 + 70000 + 100 bytes of data, each run widened to 4 KiB pages,
	// the second cut at a 64 KiB boundary.
	if total != 8192+73728+4096 {
		t.Errorf("%d bytes sent in %d chunks", total, len(s.chunks))
	}
	if err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: 5000, Sparse: true, Align: align}, s.send); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("size not a multiple of the alignment: %v", err)
	}
}

func extents(p string) ([]sparse.Extent, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return sparse.Extents(f)
}

func TestChunksDense(t *testing.T) {
	a, want := sparseLayout().write(t)
	f := open(t, a, nil)
	var s sent
	if err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: 3 << 20, Workers: 2}, s.send); err != nil {
		t.Fatal(err)
	}
	if len(s.chunks) != 3 || !bytes.Equal(s.image(a.Size), want) || len(s.chunks[6<<20]) != 2<<20 {
		t.Fatalf("%d chunks", len(s.chunks))
	}
}

// Random layouts and chunk sizes: the chunks always make the file, and
// the digest is always checked.
func TestChunksRandomLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 25 {
		l := layout{size: 1 + r.Int64N(3<<20), data: map[int64][]byte{}}
		for range r.IntN(5) {
			off := r.Int64N(l.size)
			l.data[off] = randomBytes(r, int(min(l.size-off, 1+r.Int64N(200<<10))))
		}
		a, want := l.write(t)
		o := catalog.ChunkOptions{Size: 1 + r.Int64N(1<<20), Workers: 1 + r.IntN(4), Sparse: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			o.Align = []int64{1, 512, 4096}[r.IntN(3)]
			o.Size = o.Align * (1 + r.Int64N(256))
		}
		f := open(t, a, nil)
		var s sent
		if err := f.Chunks(context.Background(), o, s.send); err != nil {
			t.Fatalf("layout %d, %+v: %v", i, o, err)
		}
		if !bytes.Equal(s.image(a.Size), want) {
			t.Fatalf("layout %d, %+v: the chunks do not make the file", i, o)
		}
		bad := open(t, wrong(a), nil)
		var s2 sent
		checkDigestRejection(t, bad.Chunks(context.Background(), o, s2.send), wrong(a))
	}
}

// With a wrong digest, the last chunk is never sent.
func TestChunksWithholdTheLastChunk(t *testing.T) {
	a, _ := sparseLayout().write(t)
	a = wrong(a)
	for _, sparse := range []bool{false, true} {
		f := open(t, a, nil)
		var s sent
		err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: 1 << 20, Workers: 2, Sparse: sparse}, s.send)
		checkDigestRejection(t, err, a)
		if _, ok := s.chunks[7<<20]; ok {
			t.Errorf("sparse %v: the last chunk was sent", sparse)
		}
	}
}

func TestChunksSendFails(t *testing.T) {
	a, _ := layout{size: 32 << 20, data: map[int64][]byte{0: bytes.Repeat([]byte{1}, 32<<20)}}.write(t)
	f := open(t, a, nil)
	injected := errors.New("injected")
	var calls atomic.Int64
	err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: 1 << 20, Workers: 4}, func(ctx context.Context, off int64, b []byte) error {
		if calls.Add(1) == 3 {
			return injected
		}
		<-ctx.Done() // the others wait until the failure cancels them
		return ctx.Err()
	})
	if !errors.Is(err, injected) {
		t.Fatalf("Chunks = %v, want the send failure", err)
	}
	if calls.Load() > 8 {
		t.Errorf("%d sends after a failure", calls.Load())
	}
}

func TestChunksCancelled(t *testing.T) {
	a, _ := layout{size: 8 << 20, data: map[int64][]byte{0: bytes.Repeat([]byte{1}, 8<<20)}}.write(t)
	f := open(t, a, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	err := f.Chunks(ctx, catalog.ChunkOptions{Size: 256 << 10, Workers: 2}, func(ctx context.Context, off int64, b []byte) error {
		if calls.Add(1) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls.Load() >= 32 {
		t.Fatalf("Chunks = %v after %d sends, want context.Canceled early", err, calls.Load())
	}
	if err := f.Chunks(context.Background(), catalog.ChunkOptions{}, nil); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("chunk size 0: %v", err)
	}
}

func TestEmptyFile(t *testing.T) {
	a, _ := layout{}.write(t)
	f := open(t, a, nil)
	if b, err := io.ReadAll(f.Reader()); err != nil || len(b) != 0 {
		t.Fatalf("empty file: %d bytes, %v", len(b), err)
	}
	var s sent
	if err := f.Chunks(context.Background(), catalog.ChunkOptions{Size: 10}, s.send); err != nil || len(s.chunks) != 0 {
		t.Fatalf("empty file: %d chunks, %v", len(s.chunks), err)
	}
	_, err := io.ReadAll(open(t, wrong(a), nil).Reader())
	checkDigestRejection(t, err, wrong(a))
}

// A registrar streams an artifact with Reader: the digest is checked as
// the bytes go, and a file that is not what the artifact records is
// rejected before its last bytes are released.
func ExampleOpenArtifact() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "disk.raw")
	content := strings.Repeat("hardvm ", 1000)
	os.WriteFile(p, []byte(content), 0o644)
	a := artifact.Artifact{Format: vm.FormatRaw, Path: p, Size: int64(len(content)), Digest: digest.FromString(content)}

	upload := func(a artifact.Artifact) error {
		f, err := catalog.OpenArtifact(a, "example", progress.Func(func(stage string, done, total int64) {
			if done == total {
				fmt.Println(stage, done, total)
			}
		}))
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New() // stands for the target
		_, err = io.Copy(h, f.Reader())
		return err
	}
	fmt.Println(upload(a))
	os.WriteFile(p, []byte(strings.ToUpper(content)), 0o644)
	err := upload(a)
	var ae *catalog.ArtifactError
	fmt.Println(errors.Is(err, catalog.ErrRejected), errors.As(err, &ae), ae.Target, ae.Artifact, ae.Rule)
	// Output:
	// example upload disk.raw 7000 7000
	// <nil>
	// true true example disk.raw digest
}
