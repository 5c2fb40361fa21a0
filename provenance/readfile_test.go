package provenance

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// allocated returns how many bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A multi-GiB sparse file is refused by its size: not a byte of it is
// read (issue 17 item 5: a bounded read still cost MaxDocumentSize of
// memory and reading per file; reading it whole cost 4.26 GB).
func TestReadDocumentFileRefusesBySize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk.raw.sigstore.json")
	if err := os.WriteFile(p, []byte(`{"mediaType":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 4<<30); err != nil {
		t.Fatal(err)
	}
	var err error
	n := allocated(func() { _, err = ReadDocumentFile(p) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	var de *DocumentError
	if !errors.As(err, &de) || de.Name != "disk.raw.sigstore.json" {
		t.Fatalf("err = %#v, want a *DocumentError naming the file", err)
	}
	if n > 1<<20 {
		t.Fatalf("refusing a 4 GiB file allocated %d bytes: it was read, not refused by its size", n)
	}
}

func TestReadDocumentFile(t *testing.T) {
	defer func(n int) { maxDocumentSize = n }(maxDocumentSize)
	maxDocumentSize = 1000
	dir := t.TempDir()
	at := filepath.Join(dir, "at-limit")
	os.WriteFile(at, bytes.Repeat([]byte("a"), 1000), 0o644)
	b, err := ReadDocumentFile(at)
	if err != nil || len(b) != 1000 {
		t.Fatalf("file of the bound: %d bytes, %v", len(b), err)
	}
	over := filepath.Join(dir, "over")
	os.WriteFile(over, bytes.Repeat([]byte("a"), 1001), 0o644)
	if _, err := ReadDocumentFile(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
	if _, err := ReadDocumentFile(dir); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a directory: %v", err)
	}
	if _, err := ReadDocumentFile(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no file: %v", err)
	}
	// /dev/zero never ends: refused as not a regular file, never read.
	if _, err := ReadDocumentFile("/dev/zero"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("/dev/zero: %v", err)
	}
}

// Key files are bounded too, far below documents.
func TestReadKeyFilesBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 1<<30); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func(string) error{
		"ReadTrustedKeyFile": func(p string) error { _, err := ReadTrustedKeyFile(p); return err },
		"ReadPrivateKeyFile": func(p string) error { _, err := ReadPrivateKeyFile(p); return err },
	} {
		var err error
		n := allocated(func() { err = read(p) })
		if !errors.Is(err, ErrKey) || !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s of a 1 GiB file: %v, want ErrKey and ErrTooLarge", name, err)
		}
		if n > 1<<20 {
			t.Errorf("%s of a 1 GiB file allocated %d bytes", name, n)
		}
	}
}
