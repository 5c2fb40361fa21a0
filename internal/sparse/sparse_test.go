package sparse

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestExtentsSkipHoles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, 4096)
	data := bytes.Repeat([]byte{1}, 8192)
	w.Write(make([]byte, 1<<20)) // hole
	w.Write(data)
	w.Write(make([]byte, 1<<20)) // hole to the end
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	if fi.Size() != 2<<20+8192 {
		t.Fatalf("size %d", fi.Size())
	}
	ext, err := Extents(f)
	if err != nil {
		t.Fatal(err)
	}
	if DataBytes(ext) > 64<<10 || len(ext) == 0 || ext[0].Offset > 1<<20 {
		t.Fatalf("extents %v: holes were written as data", ext)
	}
	got := make([]byte, 8192)
	f.ReadAt(got, 1<<20)
	if !bytes.Equal(got, data) {
		t.Fatal("data lost")
	}
}

func TestNormalize(t *testing.T) {
	got := Normalize([]Extent{{10, 5}, {0, 4}, {3, 2}, {14, 100}, {-5, 3}}, 50)
	want := []Extent{{0, 5}, {10, 40}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func ExampleNormalize() {
	fmt.Println(Normalize([]Extent{{4096, 4096}, {0, 4096}, {1 << 20, 512}}, 1<<20))
	// Output: [{0 8192}]
}

// IsZero finds a single non-zero byte wherever it is, in buffers of any
// length around the size it compares at a time.
func TestIsZero(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 4096, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1 << 20} {
		b := make([]byte, n)
		if !IsZero(b) {
			t.Fatalf("IsZero(%d zeros) = false", n)
		}
		for _, i := range []int{0, n / 2, n - 1} {
			if n == 0 {
				continue
			}
			b[i] = 0x80
			if IsZero(b) {
				t.Errorf("IsZero(%d bytes, byte %d set) = true", n, i)
			}
			b[i] = 0
		}
	}
}

func BenchmarkIsZero(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if !IsZero(buf) {
			b.Fatal("not zero")
		}
	}
}
