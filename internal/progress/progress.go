// Package progress counts bytes through readers and writers and reports
// them to a callback, throttled so that hot loops pay little for it.
package progress

import (
	"io"
	"sync/atomic"
)

// Func receives the state of long work: a stage name, units done and the
// total (0 if unknown).
type Func func(stage string, done, total int64)

// Nop is a Func that does nothing.
func Nop(string, int64, int64) {}

// Counter accumulates done units for one stage and reports each time at
// least step more units are done, and at the end.
type Counter struct {
	fn    Func
	stage string
	total int64
	step  int64
	done  atomic.Int64
	last  atomic.Int64
}

// NewCounter returns a counter for stage; step 0 means 1/100 of total
// (at least 1 MiB when total is unknown).
func NewCounter(fn Func, stage string, total int64) *Counter {
	if fn == nil {
		fn = Nop
	}
	step := total / 100
	if step < 1<<20 {
		step = 1 << 20
	}
	c := &Counter{fn: fn, stage: stage, total: total, step: step}
	fn(stage, 0, total)
	return c
}

// Add records n more units done; it is safe for concurrent use.
func (c *Counter) Add(n int64) {
	d := c.done.Add(n)
	if l := c.last.Load(); d-l >= c.step && c.last.CompareAndSwap(l, d) {
		c.fn(c.stage, d, c.total)
	}
}

// Done reports the final state.
func (c *Counter) Done() { c.fn(c.stage, c.done.Load(), c.total) }

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
