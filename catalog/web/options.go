package web

import (
	"fmt"
	"log/slog"
	"time"
)

// Option configures a [Handler].
type Option func(*options) error

type options struct {
	verifier *Verifier
	files    Files
	log      *slog.Logger
	now      func() time.Time
	refresh  time.Duration
	recheck  time.Duration
	pageSize int
	jobs     int
}

// WithVerifier verifies entries with v. Without one, the pages say that
// the server verifies nothing.
func WithVerifier(v *Verifier) Option {
	return func(o *options) error {
		if v == nil {
			return fmt.Errorf("%w: nil verifier", ErrOption)
		}
		o.verifier = v
		return nil
	}
}

// WithFiles reads the catalog's disks and attachments from f (default: the
// store itself, if it implements [Files]). Pages link only files f holds.
func WithFiles(f Files) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: nil files", ErrOption)
		}
		o.files = f
		return nil
	}
}

// WithLogger logs requests that fail and background work to l (default:
// discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrOption)
		}
		o.log = l
		return nil
	}
}

// WithClock reads the time from now (default time.Now): ages, deprecation
// as of now, verification times.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrOption)
		}
		o.now = now
		return nil
	}
}

// WithRefresh sets how often [Handler.Run] reloads the catalog (default
// one minute).
func WithRefresh(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: refresh interval %s", ErrOption, d)
		}
		o.refresh = d
		return nil
	}
}

// WithRecheck sets how long a verification result is shown before the
// entry is verified again (default ten minutes; 0: verify on every visit
// of a version page). An incomplete result (files not found) is retried
// after the refresh interval if that is shorter.
func WithRecheck(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: recheck interval %s", ErrOption, d)
		}
		o.recheck = d
		return nil
	}
}

// WithPageSize sets how many versions a stream page lists (default 50).
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1000 {
			return fmt.Errorf("%w: page size %d", ErrOption, n)
		}
		o.pageSize = n
		return nil
	}
}

// WithJobs bounds how many verifications run at once (default 1: each
// reads whole disks).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: jobs %d", ErrOption, n)
		}
		o.jobs = n
		return nil
	}
}

func makeOptions(opts []Option) (options, error) {
	o := options{log: slog.New(slog.DiscardHandler), now: time.Now, refresh: time.Minute, recheck: 10 * time.Minute, pageSize: 50, jobs: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}
