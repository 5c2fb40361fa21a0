package factory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/nats-io/nats.go/jetstream"
)

// leaseKey is the bucket key of the scheduler lease.
const leaseKey = "lease.scheduler"

// Factory finds the stale streams of a catalog and enqueues their builds.
type Factory struct {
	q     *Queue
	store catalog.Store
	specs []vm.Spec
	id    string
	o     options
}

// NewFactory returns a factory for the streams of specs (one spec per
// stream), recording jobs in q and reading store. It keeps the indexes it
// checks in q's JetStream (validators in the bucket, bytes in
// [IndexBucket]), so that an unchanged repository costs one conditional
// request per (repository, arch) and poll, whichever factory holds the
// lease. Options: WithHTTPClient, WithLogger, WithFixes, WithConcurrency.
func NewFactory(q *Queue, store catalog.Store, specs []vm.Spec, opts ...Option) (*Factory, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkStreams(specs); err != nil {
		return nil, err
	}
	o.state = jsState{kv: q.kv, obs: q.indexes}
	return &Factory{q: q, store: store, specs: specs, id: o.identity(), o: o}, nil
}

// Poll dead-letters the jobs JetStream gave up on ([Queue.Sweep]), then
// checks every stream once and enqueues a job for each stale one. It
// returns the stale streams and how many jobs were new (the others were
// already queued: same stream and lock).
func (f *Factory) Poll(ctx context.Context) ([]Stale, int, error) {
	if n, err := f.q.Sweep(ctx); err != nil {
		return nil, 0, err
	} else if n > 0 {
		f.o.logger.Warn("factory: dead-lettered jobs whose workers died on every delivery", "jobs", n)
	}
	stale, err := Check(ctx, f.store, f.specs, f.opts()...)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	for _, s := range stale {
		added, err := f.q.Enqueue(ctx, s.Job())
		if err != nil {
			return stale, n, err
		}
		if added {
			n++
			f.o.logger.Info("factory: enqueued", "stream", s.Stream, "version", s.Spec.Ref().Version, "delta", s.Delta.Summary())
		}
	}
	return stale, n, nil
}

func (f *Factory) opts() []Option {
	return []Option{func(o *options) error { *o = f.o; return nil }}
}

// Run polls every interval until ctx is done, while it holds the
// scheduler lease (so that of several factories one schedules at a time;
// the others wait for the lease to expire). It returns nil when ctx is
// done and the first error of a poll otherwise.
func (f *Factory) Run(ctx context.Context, interval time.Duration) error {
	for {
		err := f.AcquireLease(ctx, 3*interval)
		switch {
		case errors.Is(err, ErrLease):
			f.o.logger.Debug("factory: lease held elsewhere", "err", err)
		case err != nil:
			return err
		default:
			if _, _, err := f.Poll(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// lease is the scheduler lease's value.
type lease struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// AcquireLease takes or renews the scheduler lease for ttl. It fails with
// ErrLease while another factory holds an unexpired one.
func (f *Factory) AcquireLease(ctx context.Context, ttl time.Duration) error {
	data, err := json.Marshal(lease{Holder: f.id, Expires: time.Now().Add(ttl)})
	if err != nil {
		return err
	}
	e, err := f.q.kv.Get(ctx, leaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		if _, err := f.q.kv.Create(ctx, leaseKey, data); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("%w: taken concurrently", ErrLease)
			}
			return fmt.Errorf("%w: %w", ErrQueue, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrQueue, err)
	}
	var cur lease
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Holder != f.id && time.Now().Before(cur.Expires) {
		return fmt.Errorf("%w: %s until %s", ErrLease, cur.Holder, cur.Expires.Format(time.RFC3339))
	}
	if _, err := f.q.kv.Update(ctx, leaseKey, data, e.Revision()); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%w: taken concurrently", ErrLease)
		}
		return fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return nil
}
