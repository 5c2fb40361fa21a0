package vdisk_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/hardvm/hardvm/image/vdisk"
)

// holeCounter is a HoleWriter that cancels the write at the first hole and
// counts the hole bytes it is handed from then on.
type holeCounter struct {
	cancel    context.CancelFunc
	cancelled bool
	after     int64 // hole bytes accepted once cancelled
}

func (h *holeCounter) Write(p []byte) (int, error) { return len(p), nil }

func (h *holeCounter) WriteZeros(n int64) error {
	if h.cancelled {
		h.after += n
		return nil
	}
	h.cancelled = true
	h.cancel()
	return nil
}

// A writer hands a destination the holes of a disk in bounded pieces and
// checks its context between them: cancelled at the first hole of a disk
// of terabytes that is one MiB of data, it stops within one piece (a destination
// such as image.Export's hashes every zero it is handed, so one call for
// the whole hole never stopped).
func TestHolesStopOnCancel(t *testing.T) {
	data := bytes.Repeat([]byte{0x5a}, 1<<20)
	for _, c := range []struct {
		w    vdisk.StreamWriter
		size int64
	}{{vdisk.Raw{}, 10 << 40}, {vdisk.VHD{Seed: "s"}, 2000 << 30}} {
		w, size := c.w, c.size
		t.Run(string(w.Format()), func(t *testing.T) {
			src := vdisk.NewSource(bytes.NewReader(data), size, []vdisk.Extent{{Offset: 0, Length: int64(len(data))}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := &holeCounter{cancel: cancel}
			err := w.StreamDisk(ctx, h, src)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("StreamDisk: %v, want context.Canceled", err)
			}
			if !h.cancelled {
				t.Fatal("the writer handed over no hole")
			}
			if h.after > 64<<20 {
				t.Errorf("the writer handed over %d bytes of holes after it was cancelled, want at most 64 MiB", h.after)
			}
		})
	}
}
