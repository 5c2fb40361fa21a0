//go:build unix

package provenance

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO is refused before it is opened: opening it would wait for a
// writer, and a writer could feed it for ever.
func TestReadDocumentFileFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk.raw.sigstore.json")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDocumentFile(p); !errors.Is(err, ErrMalformed) {
		t.Fatalf("FIFO: %v, want ErrMalformed", err)
	}
}
