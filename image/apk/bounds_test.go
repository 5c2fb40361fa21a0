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

// TestReadPackageVerifiesDataBeforeParsing: read from a file (an
// io.ReadSeeker, as the package cache gives), a data stream swapped in
// from another package within every declared bound is refused by its
// datahash before a byte of it is decompressed: fn never sees an entry.
// On the main of issue 24 the swapped entries reached fn and only the
// datahash at the end refused them (watched it fail: fn saw etc/small).
func TestReadPackageVerifiesDataBeforeParsing(t *testing.T) {
	repo, k := writeRepo(t,
		apktest.Package{Name: "small", Version: "1-r0", Files: []apktest.File{{Name: "etc/small", Data: []byte("small file, the signed one")}}},
		apktest.Package{Name: "other", Version: "1-r0", Files: []apktest.File{{Name: "etc/small", Data: []byte("evil")}}})
	f, err := apk.NewFetcher()
	if err != nil {
		t.Fatal(err)
	}
	index, _, err := f.FetchIndex(t.Context(), repo.URL(), "x86_64", k)
	if err != nil {
		t.Fatal(err)
	}
	var sp *apk.Package
	for _, p := range index.Packages {
		if p.Name == "small" {
			sp = p
		}
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(repo.Dir, "x86_64", name+"-1-r0.apk"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	small, other := read("small"), read("other")
	se, oe := streamEnds(t, small), streamEnds(t, other)
	swapped := append(bytes.Clone(small[:se[1]]), other[oe[1]:]...)
	if int64(len(swapped)) > sp.Size {
		t.Fatalf("the swapped package is %d bytes, past S:%d: the test needs a data stream within the bounds", len(swapped), sp.Size)
	}
	path := filepath.Join(t.TempDir(), "small-1-r0.apk")
	for _, c := range []struct {
		name string
		file []byte
		want error
	}{{"swapped data stream", swapped, apk.ErrChecksum}, {"intact", small, nil}} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			fh, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			var seen []string
			pf, err := apk.ReadPackage(fh, k, "small-1-r0", func(h *tar.Header, r io.Reader) error {
				seen = append(seen, h.Name)
				_, err := io.Copy(io.Discard, r)
				return err
			}, apk.WithExpected(sp.Checksum, sp.Size), apk.WithExpectedInstalledSize(sp.InstalledSize))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want != nil {
				if len(seen) > 0 {
					t.Fatalf("fn saw %v of a data stream that does not verify", seen)
				}
				return
			}
			if len(seen) == 0 || pf.Info.Size != sp.Size {
				t.Fatalf("intact package: fn saw %v, size %d, want entries and %d", seen, pf.Info.Size, sp.Size)
			}
		})
	}
}
