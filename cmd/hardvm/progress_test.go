package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLineView(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1763856000, 0)}
	v := newLineView(&buf, 2*time.Second, clock.now)
	const mib = 1 << 20
	v.Progress("esp", 0, 0) // nothing to show
	v.Progress("install", 0, 8)
	for i := int64(1); i <= 8; i++ {
		v.Progress("install", i, 8)
	}
	v.Progress("install", 8, 8) // repeated end: no new line
	// 1 MiB steps of a 20 MiB stage: a line for each tenth crossed.
	for done := int64(0); done <= 20*mib; done += mib {
		v.Progress("erofs", done, 20*mib)
	}
	// Unknown total: a line when it starts, then at most every 2 s.
	v.Progress("export raw", 1*mib, 0)
	v.Progress("export raw", 2*mib, 0)
	clock.t = clock.t.Add(2 * time.Second)
	v.Progress("export raw", 3*mib, 0)
	clock.t = clock.t.Add(time.Second)
	v.Progress("export raw", 4*mib, 0)
	v.Progress("export raw", 5*mib, 5*mib)
	// A finished stage that starts over (assembling twice) prints again.
	v.Progress("erofs", 0, 10*mib)
	v.Progress("erofs", 10*mib, 10*mib)
	v.Close()

	want := []string{
		"install: 0/8 packages (0%)",
		"install: 1/8 packages (12%)",
		"install: 2/8 packages (25%)",
		"install: 3/8 packages (37%)",
		"install: 4/8 packages (50%)",
		"install: 5/8 packages (62%)",
		"install: 6/8 packages (75%)",
		"install: 7/8 packages (87%)",
		"install: 8/8 packages (100%)",
		"erofs: 0 B/20.0 MiB (0%)",
	}
	for tenth := 1; tenth <= 10; tenth++ {
		want = append(want, fmt.Sprintf("erofs: %s/20.0 MiB (%d%%)", humanSize(int64(tenth)*2*mib), tenth*10))
	}
	want = append(want,
		"export raw: 1.0 MiB",
		"export raw: 3.0 MiB",
		"export raw: 5.0 MiB/5.0 MiB (100%)",
		"erofs: 0 B/10.0 MiB (0%)",
		"erofs: 10.0 MiB/10.0 MiB (100%)",
	)
	if got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// report drives a view the way the pipeline does: stages in parallel,
// each reporting 0 when it starts, then its work done by two goroutines
// whose reports interleave.
func report(v progressView, stages []string, total int64) {
	var wg sync.WaitGroup
	for _, s := range stages {
		v.Progress(s, 0, total)
		for w := range 2 {
			wg.Go(func() {
				for done := int64(1 + w); done <= total; done += 2 {
					v.Progress(s, done, total)
				}
				v.Progress(s, total, total)
			})
		}
	}
	wg.Wait()
}

func TestLineViewConcurrent(t *testing.T) {
	var buf bytes.Buffer
	v := newLineView(&buf, time.Hour, time.Now)
	stages := []string{"install", "erofs", "verity", "export qcow2", "export vhd"}
	report(v, stages, 1000)
	v.Close()
	for _, s := range stages {
		n := strings.Count(buf.String(), s+": ")
		// At most a line per tenth and the start: throttled.
		if n < 2 || n > 11 {
			t.Errorf("%s: %d lines:\n%s", s, n, buf.String())
		}
		if !strings.Contains(buf.String(), s+": "+amount(s, 1000, 1000)+" (100%)\n") {
			t.Errorf("%s never finished:\n%s", s, buf.String())
		}
	}
}

// lastFrame returns the last frame mpb drew: the text after the last
// cursor-up-and-clear sequence.
func lastFrame(out string) string {
	i := strings.LastIndex(out, "\x1b[J")
	return out[i+len("\x1b[J"):]
}

func TestBarView(t *testing.T) {
	var buf bytes.Buffer
	// A fixed width and refreshes into a buffer, which is not a terminal.
	v := newBarView(&buf, mpb.WithWidth(60), mpb.WithAutoRefresh(), mpb.WithRefreshRate(time.Millisecond))
	v.Progress("esp", 0, 0) // no bar: nothing to show
	report(v, []string{"install", "erofs", "export qcow2"}, 1000)
	v.Progress("export raw", 3<<20, 0) // total unknown while it runs
	v.Progress("export raw", 256<<20, 256<<20)
	v.Progress("verity", 512<<10, 1<<20) // never finishes: the build failed
	v.Close()
	v.Progress("install", 1, 1000) // after Close: ignored, no panic

	frame := lastFrame(buf.String())
	lines := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want 5 bars, got %d:\n%s", len(lines), frame)
	}
	// Bars appear in the order their stages started; the parallel ones in
	// any order.
	wants := map[string]string{
		"install":      `^install +\[=+\] +1000/1000 packages +done$`,
		"erofs":        `^erofs +\[=+\] +1000 B/1000 B +done$`,
		"export qcow2": `^export qcow2 +\[=+\] +1000 B/1000 B +done$`,
		"export raw":   `^export raw +\[=+\] +256\.0 MiB/256\.0 MiB +done$`,
		"verity":       `^verity +\[=+>?-+\] +512\.0 KiB/1\.0 MiB +stopped$`,
	}
	for i, line := range lines {
		stage := strings.TrimSpace(line[:14])
		want, ok := wants[stage]
		if !ok || len(line) > 60+2 || !regexp.MustCompile(want).MatchString(line) {
			t.Errorf("bar %d: %q, want %s", i, line, want)
		}
		delete(wants, stage)
	}
	if !strings.HasPrefix(lines[3], "export raw") || !strings.HasPrefix(lines[4], "verity") {
		t.Errorf("sequential stages out of order:\n%s", frame)
	}
	if strings.Contains(buf.String(), "esp") {
		t.Errorf("a bar for a stage that reported nothing:\n%s", frame)
	}
}

func TestProgressChoice(t *testing.T) {
	var buf bytes.Buffer
	e := &env{stdout: &buf, stderr: &buf}
	if _, ok := e.progress().(*lineView); !ok {
		t.Error("a buffer (not a terminal) does not get plain lines")
	}
	e.quiet = true
	if _, ok := e.progress().(nopView); !ok {
		t.Error("--quiet does not silence progress")
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 256 << 20: "256.0 MiB",
		4 << 30: "4.0 GiB", 3 << 40: "3.0 TiB",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// A matrix build's stages carry their build's name; the unit is still the
// stage's own.
func TestAmountPrefixedStage(t *testing.T) {
	for stage, want := range map[string]string{
		"install":                   "3/7 packages",
		"qemu-x86_64: install":      "3/7 packages",
		"aws-aarch64: index":        "3/7 indexes",
		"qemu-x86_64: export qcow2": "3 B/7 B",
		"nutanix-x86_64: erofs":     "3 B/7 B",
	} {
		if got := amount(stage, 3, 7); got != want {
			t.Errorf("amount(%q) = %q, want %q", stage, got, want)
		}
	}
	var buf bytes.Buffer
	v := newLineView(&buf, time.Second, time.Now)
	prefixReporter{"qemu-x86_64", v}.Progress("install", 7, 7)
	if got := buf.String(); got != "qemu-x86_64: install: 7/7 packages (100%)\n" {
		t.Errorf("prefixed line %q", got)
	}
}
