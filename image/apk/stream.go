package apk

import (
	"hash"
	"io"

	"github.com/klauspost/compress/gzip"
)

// An APK file (and an APKINDEX.tar.gz) is a concatenation of gzip streams:
// signatures, then the control stream, then the data stream. Checksums and
// signatures cover the compressed bytes of single streams, so the reader
// below hands the gzip decoder one byte at a time through io.ByteReader
// (the decoder then reads no byte past its stream) while hashing exactly
// the bytes consumed, in large chunks.

// segmentReader is an io.ByteReader over r that hashes every byte consumed
// into the current hashes and counts them.
type segmentReader struct {
	r      io.Reader
	buf    []byte
	pos    int // next byte to hand out
	end    int // valid bytes in buf
	hashed int // bytes of buf[:pos] already hashed
	hashes []hash.Hash
	n      int64 // bytes consumed in total
	limit  int64 // maximum bytes to read from r (0: none)
	read   int64 // bytes read from r
	err    error
}

func newSegmentReader(r io.Reader, limit int64) *segmentReader {
	return &segmentReader{r: r, buf: make([]byte, 64<<10), limit: limit}
}

// flush hashes the bytes consumed since the last flush.
func (s *segmentReader) flush() {
	if s.pos > s.hashed {
		for _, h := range s.hashes {
			h.Write(s.buf[s.hashed:s.pos])
		}
		s.hashed = s.pos
	}
}

// hashWith makes the bytes consumed from now on go to hs.
func (s *segmentReader) hashWith(hs ...hash.Hash) {
	s.flush()
	s.hashes = hs
}

func (s *segmentReader) fill() error {
	if s.err != nil {
		return s.err
	}
	s.flush()
	s.pos, s.end, s.hashed = 0, 0, 0
	want := len(s.buf)
	if s.limit > 0 && s.limit-s.read < int64(want) {
		want = int(s.limit - s.read)
		if want == 0 {
			s.err = s.pastLimit()
			return s.err
		}
	}
	n, err := s.r.Read(s.buf[:want])
	s.end = n
	s.read += int64(n)
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		s.err = err
		return err
	}
	return nil
}

func (s *segmentReader) ReadByte() (byte, error) {
	if s.pos >= s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	c := s.buf[s.pos]
	s.pos++
	s.n++
	return c, nil
}

func (s *segmentReader) Read(p []byte) (int, error) {
	if s.pos >= s.end {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.buf[s.pos:s.end])
	s.pos += n
	s.n += int64(n)
	return n, nil
}

// pastLimit is called when limit bytes were read: it reads one more byte
// to tell a source of exactly limit bytes (io.EOF) from a longer one
// (ErrSize, without using the byte).
func (s *segmentReader) pastLimit() error {
	var one [1]byte
	for {
		n, err := s.r.Read(one[:])
		if n > 0 {
			return ErrSize
		}
		if err != nil {
			return err
		}
	}
}

// atEOF reports whether no byte is left.
func (s *segmentReader) atEOF() bool {
	if s.pos < s.end {
		return false
	}
	return s.fill() != nil
}

// nextStream returns a decoder of the next gzip stream; reading it to EOF
// consumes exactly that stream.
func (s *segmentReader) nextStream() (*gzip.Reader, error) {
	zr, err := gzip.NewReader(s)
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return zr, nil
}

// tail returns a reader of every byte not consumed yet (the buffered ones,
// then the rest of the source), hashing them into hs as they are read. The
// segment reader must not be used afterwards.
func (s *segmentReader) tail(hs ...hash.Hash) *tailReader {
	s.flush()
	t := &tailReader{s: s, w: io.MultiWriter(hashWriters(hs)...)}
	return t
}

func hashWriters(hs []hash.Hash) []io.Writer {
	ws := make([]io.Writer, len(hs))
	for i, h := range hs {
		ws[i] = h
	}
	return ws
}

// tailReader reads what a segmentReader has not consumed.
type tailReader struct {
	s *segmentReader
	w io.Writer
	n int64
}

func (t *tailReader) Read(p []byte) (int, error) {
	s := t.s
	var n int
	if s.pos < s.end {
		n = copy(p, s.buf[s.pos:s.end])
		s.pos += n
		s.hashed = s.pos
	} else {
		if s.err != nil {
			return 0, s.err
		}
		want := len(p)
		if s.limit > 0 && s.limit-s.read < int64(want) {
			want = int(s.limit - s.read)
			if want == 0 {
				s.err = s.pastLimit()
				return 0, s.err
			}
		}
		var err error
		n, err = s.r.Read(p[:want])
		s.read += int64(n)
		if err != nil && n == 0 {
			s.err = err
			return 0, err
		}
	}
	t.w.Write(p[:n])
	t.n += int64(n)
	return n, nil
}
