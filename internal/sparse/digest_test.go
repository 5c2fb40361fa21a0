package sparse

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// SHA256 of a sparse file is the SHA-256 of every byte it reads as, holes
// included, whatever the layout of data and holes.
func TestSHA256SameAsReadingAll(t *testing.T) {
	data := bytes.Repeat([]byte("hardvm"), 300000) // 1.7 MiB, not a multiple of a chunk
	for _, c := range []struct {
		name   string
		size   int64
		writes []int64 // offsets of data
	}{
		{"empty", 0, nil},
		{"all hole", 5<<20 + 3, nil},
		{"data only", int64(len(data)), []int64{0}},
		{"data at both ends", 9 << 20, []int64{0, 9<<20 - int64(len(data))}},
		{"data inside", 7<<20 + 511, []int64{2<<20 + 17}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "disk")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(c.size); err != nil {
				t.Fatal(err)
			}
			for _, off := range c.writes {
				if _, err := f.WriteAt(data, off); err != nil {
					t.Fatal(err)
				}
			}
			got, err := SHA256(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, io.NewSectionReader(f, 0, c.size)); err != nil {
				t.Fatal(err)
			}
			if want := h.Sum(nil); !bytes.Equal(got, want) {
				t.Errorf("SHA256 = %x, reading the file gives %x", got, want)
			}
		})
	}
}

// cancelCounter cancels at the first write and counts what it is given
// after that.
type cancelCounter struct {
	cancel context.CancelFunc
	seen   bool
	after  int64
}

func (c *cancelCounter) Write(p []byte) (int, error) {
	if c.seen {
		c.after += int64(len(p))
	} else {
		c.seen = true
		c.cancel()
	}
	return len(p), nil
}

// Cancelled in a hole of ten terabytes, hashing stops within a chunk and
// says why; the measure is the bytes hashed after the cancel.
func TestHashStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &cancelCounter{cancel: cancel}
	err := hashExtents(ctx, c, bytes.NewReader(make([]byte, 4096)), 10<<40, []Extent{{Offset: 0, Length: 4096}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if c.after > 4*hashChunk {
		t.Errorf("hashed %d bytes after the cancel, want at most %d", c.after, 4*hashChunk)
	}
}

// A file shorter than its extents say (it shrank while being read) is an
// error, not a digest of zeros.
func TestHashShortRead(t *testing.T) {
	err := hashExtents(context.Background(), io.Discard, bytes.NewReader(make([]byte, 100)), 8192, []Extent{{Offset: 0, Length: 8192}})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
}
