package verity

import (
	"fmt"
	"log/slog"
	"runtime"

	"github.com/hardvm/hardvm/progress"
)

// Option configures [Format] and [Verify].
type Option func(*options) error

type options struct {
	hashOffset int64
	workers    int
	chunk      int // data bytes a worker hashes per job
	progress   progress.Reporter
	log        *slog.Logger
}

func defaultOptions() options {
	return options{
		workers:  runtime.GOMAXPROCS(0),
		chunk:    2 << 20,
		progress: progress.Nop,
		log:      slog.New(slog.DiscardHandler),
	}
}

func applyOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithHashOffset places the hash area (superblock, then tree) at byte
// offset off of the hash device, like `veritysetup --hash-offset`, so that
// it can be a partition inside a disk image. off must be a multiple of 512.
func WithHashOffset(off int64) Option {
	return func(o *options) error {
		if off < 0 || off%512 != 0 {
			return &FieldError{"hash_offset", off, ErrParams}
		}
		o.hashOffset = off
		return nil
	}
}

// WithConcurrency sets the number of hashing workers (default GOMAXPROCS).
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return &FieldError{"concurrency", n, ErrParams}
		}
		o.workers = n
		return nil
	}
}

// WithChunkSize sets how many bytes of data a worker reads and hashes at a
// time (default 2 MiB, rounded to whole leaf hash blocks). Memory use is
// about workers × chunk.
func WithChunkSize(n int) Option {
	return func(o *options) error {
		if n < 4096 || n > 256<<20 {
			return &FieldError{"chunk_size", fmt.Sprintf("%d (want 4 KiB to 256 MiB)", n), ErrParams}
		}
		o.chunk = n
		return nil
	}
}

// WithProgress reports the bytes of data hashed so far under the stage
// "verity".
func WithProgress(r progress.Reporter) Option {
	return func(o *options) error {
		if r != nil {
			o.progress = r
		}
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.log = l
		}
		return nil
	}
}
