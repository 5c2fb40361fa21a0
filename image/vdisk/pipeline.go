package vdisk

import (
	"context"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// ordered runs work on the values produce sends, on workers goroutines, and
// hands the results to emit one at a time in the order they were sent. At
// most a few values per worker are in flight, so memory stays flat however
// many values there are. The first error (or ctx's) stops everything.
//
// produce and emit run on their own goroutines; emit sees values in order
// and may recycle their buffers.
func ordered[T any](ctx context.Context, workers int, produce func(ctx context.Context, send func(T) error) error, work func(*T) error, emit func(*T) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type task struct {
		v    T
		done chan struct{}
	}
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan *task, workers)
	order := make(chan *task, workers)
	g.Go(func() error {
		defer close(order)
		defer close(jobs)
		return produce(ctx, func(v T) error {
			t := &task{v: v, done: make(chan struct{})}
			select {
			case order <- t:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- t:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	})
	for range workers {
		g.Go(func() error {
			for t := range jobs {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := work(&t.v); err != nil {
					return err
				}
				close(t.done)
			}
			return nil
		})
	}
	g.Go(func() error {
		for t := range order {
			select {
			case <-t.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := emit(&t.v); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

// pool is a free list of byte buffers of one size, bounded so that
// returning buffers never blocks.
type pool struct {
	size int
	free chan []byte
}

func newPool(size, n int) *pool { return &pool{size: size, free: make(chan []byte, n)} }

func (p *pool) get() []byte {
	select {
	case b := <-p.free:
		return b[:p.size]
	default:
		return make([]byte, p.size)
	}
}

func (p *pool) put(b []byte) {
	if cap(b) < p.size {
		return
	}
	select {
	case p.free <- b[:p.size]:
	default:
	}
}
