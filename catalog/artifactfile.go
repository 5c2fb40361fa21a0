package catalog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
)

// ArtifactFile is an artifact's file opened for a target (a registrar, a
// store that keeps files): the one way registrars read what they upload.
// It hands the file out either as one stream ([ArtifactFile.Reader]) or as
// chunks sent in parallel that skip holes ([ArtifactFile.Chunks]); both
// hash every byte as they read it, so the bytes sent are the bytes hashed,
// and both fail with an [*ArtifactError] ([ErrRejected], [ErrDigest]) when
// the content does not have the artifact's digest. Reads are bounded by
// the size the file had when it was opened, and progress is reported to
// the [progress.Reporter] given to [OpenArtifact], in bytes of the file,
// as stage "<target> upload <name>".
//
// What a registrar uploads is not committed on the target (an object
// finalized, a snapshot completed, a lease completed, an image created)
// until the digest is verified: a Reader never returns the last bytes of a
// file whose digest is wrong, and Chunks returns nil only once the digest
// is verified. An ArtifactFile is safe for concurrent use by several
// readers.
type ArtifactFile struct {
	a      artifact.Artifact
	target string
	f      *os.File
	size   int64
	report progress.Reporter
}

// OpenArtifact opens a's file for target ("aws", "qemu", ...), reporting
// progress to report (nil: none). It refuses with an [*ArtifactError]
// ([ErrRejected]) an artifact without a sha256 digest, a file that is not
// a regular file, and a file whose size is not a.Size (when set). A file
// that cannot be opened is an error of its own (fs.ErrNotExist, ...). The
// caller closes it.
func OpenArtifact(a artifact.Artifact, target string, report progress.Reporter) (*ArtifactFile, error) {
	s := &ArtifactFile{a: a, target: target, report: progress.OrNop(report)}
	if !ValidDigest(a.Digest) {
		return nil, s.Reject(RuleDigest, fmt.Errorf("digest %q is not sha256:<64 hex>", a.Digest))
	}
	// Stat before opening: opening a FIFO would block.
	if fi, err := os.Stat(a.Path); err != nil {
		return nil, fmt.Errorf("catalog: artifact %s: %w", a.Name(), err)
	} else if !fi.Mode().IsRegular() {
		return nil, s.Reject(RuleFile, fmt.Errorf("not a regular file (%v)", fi.Mode().Type()))
	}
	f, err := os.Open(a.Path)
	if err != nil {
		return nil, fmt.Errorf("catalog: artifact %s: %w", a.Name(), err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = s.Reject(RuleFile, fmt.Errorf("not a regular file (%v)", fi.Mode().Type()))
	} else if err == nil && a.Size != 0 && fi.Size() != a.Size {
		err = s.Reject(RuleSize, fmt.Errorf("file has %d bytes, the artifact says %d", fi.Size(), a.Size))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s.f, s.size = f, fi.Size()
	return s, nil
}

// Artifact returns the artifact.
func (s *ArtifactFile) Artifact() artifact.Artifact { return s.a }

// Size returns the size of the file, as it was opened: every read stops
// there.
func (s *ArtifactFile) Size() int64 { return s.size }

// Close closes the file.
func (s *ArtifactFile) Close() error { return s.f.Close() }

// Reject returns the [*ArtifactError] of s's target refusing s's artifact
// by rule (a Rule constant or a vm.Rule ID) because of err.
func (s *ArtifactFile) Reject(rule string, err error) error {
	return &ArtifactError{Target: s.target, Artifact: s.a.Name(), Path: s.a.Path, Rule: rule, Err: err}
}

// ReadAt reads the file at off, within the size it was opened with. What
// it returns is not verified: use it only to check bounded headers before
// an upload (whose Reader or Chunks verify every byte, these included).
func (s *ArtifactFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("catalog: read %s at %d: negative offset", s.a.Name(), off)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	short := int64(len(p)) > s.size-off
	if short {
		p = p[:s.size-off]
	}
	n, err := s.f.ReadAt(p, off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

func (s *ArtifactFile) stage() string { return s.target + " upload " + s.a.Name() }

// verify compares the digest of everything hashed with the artifact's.
func (s *ArtifactFile) verify(h hash.Hash) error {
	if got := digest.NewDigest(digest.SHA256, h); got != s.a.Digest {
		return s.Reject(RuleDigest, &DigestError{What: s.a.Path, Want: s.a.Digest, Got: got})
	}
	return nil
}

// changed is the rejection of a file that became shorter than it was when
// opened.
func (s *ArtifactFile) changed(off int64) error {
	return s.Reject(RuleSize, fmt.Errorf("file ends at %d, it had %d bytes when opened", off, s.size))
}

// Reader returns a new reader of the whole file, from its start. It
// hashes what it returns and withholds the last bytes of the file until
// the digest of all of it is verified: then it returns them, and io.EOF
// after; if the digest is wrong, it returns an [*ArtifactError] instead
// of them. So a consumer that needs every byte before it commits (an HTTP
// body of known length, a resumable upload finalized at EOF, a tar stream)
// never commits content with the wrong digest. Each call starts over, for
// retries; a reader is not safe for concurrent use.
func (s *ArtifactFile) Reader() io.Reader {
	return &verifyingReader{s: s, h: sha256.New(), cnt: progress.NewCounter(s.report, s.stage(), s.size)}
}

type verifyingReader struct {
	s   *ArtifactFile
	off int64
	h   hash.Hash
	cnt *progress.Counter
	err error // io.EOF once verified
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	left := r.s.size - r.off
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := r.s.f.ReadAt(p, r.off)
	switch {
	case n < len(p) && (err == nil || errors.Is(err, io.EOF)):
		r.err = r.s.changed(r.off + int64(n))
		return 0, r.err
	case err != nil && !errors.Is(err, io.EOF):
		r.err = fmt.Errorf("catalog: read %s at %d: %w", r.s.a.Path, r.off, err)
		return 0, r.err
	}
	r.h.Write(p[:n])
	r.off += int64(n)
	r.cnt.Add(int64(n))
	if r.off == r.s.size {
		if err := r.s.verify(r.h); err != nil {
			r.err = err
			return 0, err // the last bytes are never released
		}
		r.cnt.Done()
		r.err = io.EOF
		if n == 0 {
			return 0, io.EOF // an empty file
		}
	}
	return n, nil
}

// WriteTo writes what Read returns to w, in reads of 1 MiB: io.Copy of a
// Reader makes fewer, larger reads and writes than with its own buffer.
func (r *verifyingReader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, min(1<<20, max(r.s.size, 1)))
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// ChunkOptions says how [ArtifactFile.Chunks] cuts and sends a file.
type ChunkOptions struct {
	// Size is the longest chunk, in bytes: the file is cut at every
	// multiple of Size, and no chunk crosses one. Required.
	Size int64
	// Workers is how many chunks are sent at once (default 1). Memory:
	// (Workers + 2) * Size.
	Workers int
	// Sparse skips the holes of the file: they are hashed as the zeros
	// they read as, never read nor sent. Use it when the target reads what
	// is never written as zeros (EBS snapshots, page blobs, sparse files).
	Sparse bool
	// Align, with Sparse, cuts chunks to the file's data: each chunk
	// starts and ends at a multiple of Align (a page, a block) around the
	// data it holds. Size must be a multiple of it. Without it (or without
	// Sparse) chunks are whole: [i*Size, (i+1)*Size), the last one
	// shorter, holes inside them read as zeros.
	Align int64
}

// zeros is hashed in place of holes.
var zeros [1 << 20]byte

// piece is a range of the file to read, hash and send.
type piece struct{ off, end int64 }

// pieces returns the ranges of the window [start, end) that hold data
// (ext, sorted, from the first extent that ends after start), widened to
// multiples of align within the window and merged.
func pieces(ext []sparse.Extent, start, end, align int64) []piece {
	var out []piece
	for _, e := range ext {
		if e.Offset >= end {
			break
		}
		off := max(e.Offset, start) / align * align
		last := min((min(e.End(), end)+align-1)/align*align, end)
		if n := len(out); n > 0 && off <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, last)
			continue
		}
		out = append(out, piece{off, last})
	}
	return out
}

// Chunks reads the file once, in order, and calls send for each chunk
// (off is its offset; b is only valid during the call) from up to
// o.Workers goroutines, while another goroutine hashes every byte in
// order: sending and hashing use two cores. The file's last bytes are sent
// only once the digest of the whole file is verified. Chunks returns once
// every send has returned: nil if every send succeeded and the file has
// the artifact's digest, else the first error, an [*ArtifactError]
// ([ErrDigest]) for a wrong digest. The caller commits what it sent only
// on nil, and undoes it otherwise.
func (s *ArtifactFile) Chunks(ctx context.Context, o ChunkOptions, send func(ctx context.Context, off int64, b []byte) error) error {
	align := o.Size
	if o.Sparse && o.Align > 0 {
		align = o.Align
	}
	if o.Size <= 0 || o.Size%align != 0 {
		return fmt.Errorf("%w: chunk size %d, alignment %d", ErrInvalid, o.Size, o.Align)
	}
	workers := max(o.Workers, 1)
	ext := []sparse.Extent{{Offset: 0, Length: s.size}}
	if o.Sparse {
		var err error
		if ext, err = sparse.Extents(s.f); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		ext = sparse.Normalize(ext, s.size)
	}
	cnt := progress.NewCounter(s.report, s.stage(), s.size)

	// A buffer is read once and used by the hasher and a sender: the last
	// of them to be done gives it back. There are at most workers + 2:
	// one per sender, one being hashed, one being read.
	type buffer struct {
		b    []byte
		refs atomic.Int32
	}
	free := make(chan *buffer, workers+2)
	made := 0
	release := func(b *buffer) {
		if b.refs.Add(-1) == 0 {
			free <- b
		}
	}
	// The hasher takes holes and read chunks in file order; it verifies
	// the digest after an item marked final, and says so on verdict.
	type item struct {
		hole  int64
		buf   *buffer
		n     int64
		final bool
	}
	hashq := make(chan item, 2*(workers+2))
	verdict := make(chan error, 1)
	type job struct {
		off int64
		buf *buffer
		n   int64
	}
	jobs := make(chan job)

	g, gctx := errgroup.WithContext(ctx)
	for range workers {
		g.Go(func() error {
			for j := range jobs {
				err := send(gctx, j.off, j.buf.b[:j.n])
				release(j.buf)
				if err != nil {
					return err
				}
				cnt.Add(j.n)
			}
			return nil
		})
	}
	g.Go(func() error {
		h := sha256.New()
		for it := range hashq {
			for k := it.hole; k > 0; k -= int64(len(zeros)) {
				h.Write(zeros[:min(k, int64(len(zeros)))])
			}
			cnt.Add(it.hole)
			if it.buf != nil {
				h.Write(it.buf.b[:it.n])
				release(it.buf)
			}
			if it.final {
				err := s.verify(h)
				verdict <- err
				return err
			}
		}
		return nil // the scanner stopped early: its error is the one
	})
	g.Go(func() error {
		defer close(jobs)
		defer close(hashq)
		queue := func(it item) error {
			select {
			case hashq <- it:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		// verified queues the final item and waits for the hasher.
		verified := func(it item) error {
			it.final = true
			if err := queue(it); err != nil {
				return err
			}
			select {
			case err := <-verdict:
				return err
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		e := 0 // the first extent that does not end before the window
		for start := int64(0); start < s.size; start += o.Size {
			if err := gctx.Err(); err != nil {
				return err
			}
			end := min(start+o.Size, s.size)
			for e < len(ext) && ext[e].End() <= start {
				e++
			}
			pos := start
			for _, p := range pieces(ext[e:], start, end, align) {
				// Holes read as zeros, and the target has zeros where
				// nothing is written.
				if err := queue(item{hole: p.off - pos}); err != nil {
					return err
				}
				pos = p.end
				var buf *buffer
				select {
				case buf = <-free:
				default:
					if made < workers+2 {
						made++
						buf = &buffer{b: make([]byte, o.Size)}
					} else {
						select {
						case buf = <-free:
						case <-gctx.Done():
							return gctx.Err()
						}
					}
				}
				n := p.end - p.off
				if k, err := s.f.ReadAt(buf.b[:n], p.off); int64(k) < n {
					free <- buf
					if err == nil || errors.Is(err, io.EOF) {
						return s.changed(p.off + int64(k))
					}
					return fmt.Errorf("catalog: read %s at %d: %w", s.a.Path, p.off, err)
				}
				buf.refs.Store(2) // the hasher's and a sender's
				it := item{buf: buf, n: n}
				var err error
				if p.end == s.size {
					err = verified(it) // the last bytes: not before the digest is right
				} else {
					err = queue(it)
				}
				if err == nil {
					select {
					case jobs <- job{p.off, buf, n}:
						continue
					case <-gctx.Done():
						err = gctx.Err()
					}
				}
				release(buf) // the sender's
				return err
			}
			if end == s.size {
				if pos == end {
					return nil // verified with the last piece
				}
				return verified(item{hole: end - pos}) // the file ends in a hole
			}
			if err := queue(item{hole: end - pos}); err != nil {
				return err
			}
		}
		return verified(item{}) // an empty file: the loop never ran
	})
	if err := g.Wait(); err != nil {
		return err
	}
	cnt.Done()
	return nil
}
