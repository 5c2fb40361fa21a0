package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hardvm/hardvm/progress"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progressView renders the [progress.Reporter] reports of a long command: bars
// on a terminal, throttled lines otherwise, nothing when quiet. Progress is
// safe for concurrent use (the pipeline reports stages in parallel); Close
// stops the rendering and must be called once, before the command prints
// its result.
type progressView interface {
	progress.Reporter
	Close()
}

// progress returns the view a command reports its progress to, on stderr.
// Nothing with --quiet (e.quiet).
func (e *env) progress() progressView {
	switch {
	case e.quiet:
		return nopView{}
	case isTerminal(e.stderr):
		return newBarView(e.stderr)
	default:
		return newLineView(e.stderr, 2*time.Second, time.Now)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type nopView struct{}

func (nopView) Progress(string, int64, int64) {}
func (nopView) Close()                        {}

// countStages are the stages that count items (indexes, packages); the
// others count bytes.
var countStages = map[string]bool{"index": true, "install": true}

// amount formats the state of a stage: "5/12 packages", "12.0 MiB/256.0 MiB"
// or, while the total is unknown, "12.0 MiB".
func amount(stage string, done, total int64) string {
	if i := strings.LastIndex(stage, ": "); i >= 0 {
		stage = stage[i+2:] // a matrix build's "<platform>-<arch>: <stage>"
	}
	if countStages[stage] {
		unit := "packages"
		if stage == "index" {
			unit = "indexes"
		}
		if total <= 0 {
			return fmt.Sprintf("%d %s", done, unit)
		}
		return fmt.Sprintf("%d/%d %s", done, total, unit)
	}
	if total <= 0 {
		return humanSize(done)
	}
	return humanSize(done) + "/" + humanSize(total)
}

// humanSize formats n bytes with a binary unit: "512 B", "1.5 KiB", "256.0 MiB".
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// lineView prints one line per stage when it starts, each time it crosses
// a tenth of its total, at most every interval while its total is unknown,
// and when it ends: a log a CI system keeps readable.
type lineView struct {
	mu     sync.Mutex
	w      io.Writer
	every  time.Duration
	now    func() time.Time
	stages map[string]*lineStage
}

type lineStage struct {
	done, total int64
	tenth       int64 // tenths of the total printed so far, -1 when unknown
	printed     time.Time
	finished    bool
}

func newLineView(w io.Writer, every time.Duration, now func() time.Time) *lineView {
	return &lineView{w: w, every: every, now: now, stages: map[string]*lineStage{}}
}

// Progress prints the report if it is worth a line.
func (v *lineView) Progress(stage string, done, total int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	s := v.stages[stage]
	if s == nil && done == 0 && total <= 0 {
		return // nothing to show yet (an ESP the image does not need reports only this)
	}
	if s == nil || (s.finished && done == 0 && s.done > 0) { // a new stage, or one run again
		s = &lineStage{tenth: -1}
		v.stages[stage] = s
		v.print(stage, s, done, total, now)
		return
	}
	if s.finished || done < s.done {
		return // reports of parallel workers may arrive out of order
	}
	finished := total > 0 && done >= total
	switch {
	case finished,
		total > 0 && done*10/total > s.tenth,
		total <= 0 && now.Sub(s.printed) >= v.every && done != s.done:
		v.print(stage, s, done, total, now)
	}
	s.done, s.total = done, total
}

func (v *lineView) print(stage string, s *lineStage, done, total int64, now time.Time) {
	line := stage + ": " + amount(stage, done, total)
	if total > 0 {
		line += fmt.Sprintf(" (%d%%)", done*100/total)
		s.tenth = done * 10 / total
	}
	fmt.Fprintln(v.w, line)
	s.done, s.total, s.printed = done, total, now
	s.finished = total > 0 && done >= total
}

// Close prints nothing more.
func (v *lineView) Close() {}

// barView draws one progress bar per stage with mpb.
type barView struct {
	mu     sync.Mutex
	p      *mpb.Progress
	bars   map[string]*barStage
	all    []*barStage
	closed bool
}

type barStage struct {
	bar      *mpb.Bar
	done     int64
	total    int64
	complete bool
}

// newBarView draws on w; options are for tests (a fixed width, auto
// refresh into a buffer).
func newBarView(w io.Writer, opts ...mpb.ContainerOption) *barView {
	opts = append([]mpb.ContainerOption{mpb.WithOutput(w), mpb.WithRefreshRate(120 * time.Millisecond)}, opts...)
	return &barView{p: mpb.New(opts...), bars: map[string]*barStage{}}
}

// Progress moves the stage's bar, adding it on the first report (and again
// when a finished stage starts over from 0, as assembling does once the
// ESP is made).
func (v *barView) Progress(stage string, done, total int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	b := v.bars[stage]
	if b == nil && done == 0 && total <= 0 {
		return // nothing to show yet
	}
	if b == nil || (b.complete && done == 0 && b.done > 0) { // a new stage, or one run again
		b = &barStage{bar: v.newBar(stage)}
		v.bars[stage] = b
		v.all = append(v.all, b)
	}
	if b.complete || done < b.done {
		return // reports of parallel workers may arrive out of order
	}
	// Bars start without a total, so SetTotal keeps working: mpb ignores it
	// on bars made with one. Completion is ours to trigger.
	complete := total > 0 && done >= total
	if total != b.total && total > 0 && !complete {
		b.bar.SetTotal(total, false)
	}
	if done != b.done {
		b.bar.SetCurrent(done)
	}
	if complete {
		b.bar.SetTotal(total, true)
	}
	b.done, b.total, b.complete = done, total, complete
}

func (v *barView) newBar(stage string) *mpb.Bar {
	return v.p.AddBar(0,
		mpb.PrependDecorators(decor.Name(stage, decor.WC{W: 14, C: decor.DindentRight})),
		mpb.AppendDecorators(
			decor.Any(func(s decor.Statistics) string { return amount(stage, s.Current, s.Total) }, decor.WC{W: 24}),
			decor.OnAbort(decor.OnComplete(decor.Percentage(decor.WC{W: 6}), "  done"), "  stopped"),
		),
	)
}

// Close stops the bars of stages that did not finish (a failed or
// interrupted build) and waits for the last frame to be drawn.
func (v *barView) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	for _, b := range v.all {
		if !b.complete {
			b.bar.Abort(false)
		}
	}
	v.mu.Unlock()
	v.p.Wait()
}
