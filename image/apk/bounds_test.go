package apk_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/apktest"
)

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// streamEnds returns the offsets where each gzip stream of b ends.
func streamEnds(t *testing.T, b []byte) []int {
	t.Helper()
	r := bytes.NewReader(b)
	var ends []int
	for r.Len() > 0 {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		if _, err := io.Copy(io.Discard, zr); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, len(b)-r.Len())
	}
	return ends
}

// TestReadPackageBoundedByDeclaredSizes: a package's bytes are bounded by
// the index's S: (reading stops at the first byte past it) and its files
// by the declared installed size (I: and .PKGINFO size; the entry that
// crosses it is refused before its content reaches fn). A data stream
// swapped in from a large package is stopped there, not staged in full
// before the datahash mismatch. On the main of issue 17 the reader read
// every byte, handed the swapped 2 MiB to fn and failed only then (watched
// it fail).
func TestReadPackageBoundedByDeclaredSizes(t *testing.T) {
	repo, k := writeRepo(t,
		apktest.Package{Name: "small", Version: "1-r0", Files: []apktest.File{{Name: "etc/small", Data: []byte("small file")}}},
		apktest.Package{Name: "large", Version: "1-r0", Files: []apktest.File{{Name: "etc/large", Size: 2 << 20}}})
	idx, err := apk.NewFetcher()
	if err != nil {
		t.Fatal(err)
	}
	index, _, err := idx.FetchIndex(t.Context(), repo.URL(), "x86_64", k)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*apk.Package{}
	for _, p := range index.Packages {
		byName[p.Name] = p
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(repo.Dir, "x86_64", name+"-1-r0.apk"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	small, large := read("small"), read("large")
	se, le := streamEnds(t, small), streamEnds(t, large)
	if len(se) != 3 || len(le) != 3 {
		t.Fatalf("streams: %v %v", se, le)
	}
	sp := byName["small"]
	check := func(t *testing.T, file []byte, want error) {
		t.Helper()
		cr := &countingReader{r: bytes.NewReader(file)}
		var handed int64
		_, err := apk.ReadPackage(cr, k, "small-1-r0", func(h *tar.Header, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			handed += n
			return err
		}, apk.WithExpected(sp.Checksum, sp.Size), apk.WithExpectedInstalledSize(sp.InstalledSize))
		if !errors.Is(err, want) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		if cr.n > sp.Size+1 {
			t.Errorf("read %d bytes of a package the index says is %d", cr.n, sp.Size)
		}
		if handed > sp.InstalledSize {
			t.Errorf("handed %d bytes of files to fn, the package declares %d", handed, sp.InstalledSize)
		}
	}
	t.Run("swapped data stream", func(t *testing.T) {
		check(t, append(bytes.Clone(small[:se[1]]), large[le[1]:]...), apk.ErrSize)
	})
	t.Run("bytes past S", func(t *testing.T) {
		check(t, append(bytes.Clone(small), make([]byte, 1<<20)...), apk.ErrSize)
	})
	t.Run("intact", func(t *testing.T) {
		check(t, small, nil)
	})
}
