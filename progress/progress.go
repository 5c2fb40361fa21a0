// Package progress is how long work reports its state in hardvm: one
// interface, [Reporter], taken by every WithProgress option of every package,
// and the mechanisms that feed it: a [Counter] of bytes through readers and
// writers, throttled so that hot loops pay little for it.
package progress

import (
	"io"
	"sync/atomic"
)

// Reporter receives the state of long work: a stage name, units done and
// the total (0 if unknown). Programs render it as a progress bar.
// Implementations must be safe for concurrent use.
type Reporter interface {
	Progress(stage string, done, total int64)
}

// Func adapts a function to [Reporter].
type Func func(stage string, done, total int64)

// Progress calls f.
func (f Func) Progress(stage string, done, total int64) { f(stage, done, total) }

// Nop is a Reporter that reports nothing.
var Nop Reporter = Func(func(string, int64, int64) {})

// OrNop returns r, or [Nop] when r is nil.
func OrNop(r Reporter) Reporter {
	if r == nil {
		return Nop
	}
	return r
}

// Counter accumulates done units for one stage and reports each time at
// least step more units are done, and at the end.
type Counter struct {
	fn    Reporter
	stage string
	total int64
	step  int64
	done  atomic.Int64
	last  atomic.Int64
}

// NewCounter returns a counter for stage; step 0 means 1/100 of total
// (at least 1 MiB when total is unknown).
func NewCounter(r Reporter, stage string, total int64) *Counter {
	fn := OrNop(r)
	step := total / 100
	if step < 1<<20 {
		step = 1 << 20
	}
	c := &Counter{fn: fn, stage: stage, total: total, step: step}
	fn.Progress(stage, 0, total)
	return c
}

// Add records n more units done; it is safe for concurrent use.
func (c *Counter) Add(n int64) {
	d := c.done.Add(n)
	if l := c.last.Load(); d-l >= c.step && c.last.CompareAndSwap(l, d) {
		c.fn.Progress(c.stage, d, c.total)
	}
}

// Done reports the final state.
func (c *Counter) Done() { c.fn.Progress(c.stage, c.done.Load(), c.total) }

// Reader wraps r so that bytes read are added to c.
func Reader(r io.Reader, c *Counter) io.Reader { return &reader{r, c} }

type reader struct {
	r io.Reader
	c *Counter
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.Add(int64(n))
	return n, err
}

// Writer wraps w so that bytes written are added to c.
func Writer(w io.Writer, c *Counter) io.Writer { return &writer{w, c} }

type writer struct {
	w io.Writer
	c *Counter
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.c.Add(int64(n))
	return n, err
}
