package factory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BuildFunc builds, verifies and publishes the image of spec (whose
// version is set) and returns its catalog entry; [hardvm.Release] with
// WithStore is one. It must publish nothing it did not verify.
type BuildFunc func(ctx context.Context, spec vm.Spec) (catalog.Entry, error)

// FleetFunc returns the nodes of a stream's fleet, for the replacement
// plan a worker computes after publishing.
type FleetFunc func(ctx context.Context, stream string) ([]vm.Node, error)

// Result is what a worker did with a job.
type Result struct {
	Stream string `json:"stream"`
	Job    string `json:"job"` // Job.ID
	// Outcome is "published", "already-published" (a redelivered job
	// whose image the catalog has) or "superseded" (the repositories
	// changed since the job was made: the factory enqueues a new one).
	Outcome string  `json:"outcome"`
	Ref     *vm.Ref `json:"ref,omitempty"`
	// Deprecated are the entries deprecated in favour of Ref.
	Deprecated []vm.Ref           `json:"deprecated,omitempty"`
	Fixes      []string           `json:"fixes,omitempty"`
	Plan       *catalog.FleetPlan `json:"plan,omitempty"`
	Count      int                `json:"count"` // jobs completed for the stream, this one included
	Worker     string             `json:"worker,omitempty"`
	// Delivery is which delivery of the job this was: 1 the first, more
	// when a worker died or failed before acknowledging it.
	Delivery uint64 `json:"delivery"`
}

// The outcomes of a job.
const (
	Published        = "published"
	AlreadyPublished = "already-published"
	Superseded       = "superseded"
)

// Worker takes jobs from a [Queue] and builds them.
type Worker struct {
	q     *Queue
	store catalog.Store
	build BuildFunc
	fleet FleetFunc
	plan  []vm.PlanOption
	id    string
	o     options
}

// WorkerOption configures a [Worker] beyond the common [Option]s.
type WorkerOption func(*Worker) error

// WithFleet makes the worker plan the replacement of fleet's nodes after
// each publication, with opts passed to vm.Plan.
func WithFleet(fleet FleetFunc, opts ...vm.PlanOption) WorkerOption {
	return func(w *Worker) error { w.fleet, w.plan = fleet, opts; return nil }
}

// NewWorker returns a worker that builds q's jobs with build and records
// in store. Options: WithCacheDir, WithHTTPClient (for re-resolving),
// WithLogger, WithFixes (for the fleet plans).
func NewWorker(q *Queue, store catalog.Store, build BuildFunc, opts []Option, wopts ...WorkerOption) (*Worker, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	w := &Worker{q: q, store: store, build: build, o: o, id: o.identity()}
	for _, opt := range wopts {
		if err := opt(w); err != nil {
			return nil, err
		}
	}
	if q == nil || store == nil || build == nil {
		return nil, errors.New("factory: a worker needs a queue, a store and a build function")
	}
	return w, nil
}

// Run processes jobs until ctx is done, one at a time, and returns nil
// then. A failure of the queue (a NATS node that stops, a connection
// being re-established, a cluster electing a new leader) is logged and
// retried after a pause that grows to 10 s: the job in hand, if any, was
// not acknowledged and JetStream redelivers it.
func (w *Worker) Run(ctx context.Context) error {
	pause := 250 * time.Millisecond
	for ctx.Err() == nil {
		_, err := w.RunOnce(ctx, 2*time.Second)
		switch {
		case err == nil || errors.Is(err, jetstream.ErrNoMessages):
			pause = 250 * time.Millisecond
			continue
		case ctx.Err() != nil:
			return nil
		}
		w.o.logger.Warn("factory: queue", "err", err, "retry", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, 10*time.Second)
	}
	return nil
}

// RunOnce waits up to wait for a job and processes it: it returns the
// result, or jetstream.ErrNoMessages when no job came. A failed job is
// not an error of RunOnce: it is redelivered, or after the last delivery
// published as a [DeadLetter]; RunOnce then returns a nil Result.
func (w *Worker) RunOnce(ctx context.Context, wait time.Duration) (*Result, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	msg, err := w.q.cons.Next(jetstream.FetchContext(wctx))
	cancel()
	if ctx.Err() == nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages)) {
		return nil, jetstream.ErrNoMessages
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	md, err := msg.Metadata()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	job, err := parseJob(msg.Data())
	if err != nil {
		// A malformed job never gets better: dead-letter it now.
		w.o.logger.Error("factory: bad job", "subject", msg.Subject(), "err", err)
		return nil, w.fail(ctx, msg, md, job, err, true)
	}
	log := w.o.logger.With("stream", job.Stream, "job", job.ID(), "delivery", md.NumDelivered)
	token := streamToken(job.Stream)
	// The running record says who builds the stream until when; each
	// heartbeat extends it, so one whose worker died expires (see
	// Queue.Status). It is for people: failing to write it fails nothing.
	beat := func() uint64 {
		data, _ := json.Marshal(running{Worker: w.id, Job: job.ID(), Delivery: md.NumDelivered, Until: time.Now().Add(w.q.o.ackWait)})
		rev, err := w.q.kv.Put(ctx, runningKey(token), data)
		if err != nil {
			log.Warn("factory: running record", "err", err)
		}
		return rev
	}
	rev := beat()
	defer func() {
		// Only our own record: another worker may have taken the stream.
		if rev != 0 {
			w.q.kv.Delete(context.WithoutCancel(ctx), runningKey(token), jetstream.LastRevision(rev))
		}
	}()

	// Heartbeats: the build takes minutes; tell JetStream it is alive.
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	var beats sync.WaitGroup
	beats.Go(func() {
		t := time.NewTicker(w.q.o.ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Warn("factory: heartbeat", "err", err)
				}
				if r := beat(); r != 0 {
					rev = r
				}
			}
		}
	})
	log.Info("factory: job started")
	res, err := w.process(ctx, job)
	stop()
	beats.Wait()
	if err != nil {
		log.Error("factory: job failed", "err", err)
		return nil, w.fail(ctx, msg, md, job, err, false)
	}
	res.Worker, res.Delivery = w.id, md.NumDelivered
	if res.Count, err = w.record(ctx, token, *res); err != nil {
		return nil, err
	}
	if err := msg.DoubleAck(ctx); err != nil {
		return nil, fmt.Errorf("%w: ack %s: %w", ErrQueue, job.ID(), err)
	}
	log.Info("factory: job done", "outcome", res.Outcome, "ref", res.Ref)
	return res, nil
}

// fail naks the job for redelivery, or on its last delivery (or when it
// can never succeed) publishes it as a dead letter and terminates it.
func (w *Worker) fail(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, job Job, cause error, final bool) error {
	if !final && md.NumDelivered < uint64(w.q.o.maxDeliver) {
		backoff := time.Duration(md.NumDelivered) * time.Second
		if err := msg.NakWithDelay(backoff); err != nil {
			return fmt.Errorf("%w: nak: %w", ErrQueue, err)
		}
		return nil
	}
	d := DeadLetter{Job: job, Error: cause.Error(), Deliveries: md.NumDelivered, Worker: w.id}
	if err := w.q.deadLetter(ctx, d, fmt.Sprintf("%s#%d", job.ID(), md.Sequence.Stream)); err != nil {
		return fmt.Errorf("%w: dead letter: %w", ErrQueue, err)
	}
	if err := msg.TermWithReason(cause.Error()); err != nil {
		return fmt.Errorf("%w: term: %w", ErrQueue, err)
	}
	return nil
}

// record stores the result under done.<stream> and returns the stream's
// count of completed jobs. A job recorded already (its acknowledgement
// was lost, and it was redelivered) is not counted again.
func (w *Worker) record(ctx context.Context, token string, r Result) (int, error) {
	key := "done." + token
	for range 10 {
		var rev uint64
		r.Count = 1
		e, err := w.q.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, fmt.Errorf("%w: %w", ErrQueue, err)
		default:
			var prev Result
			if json.Unmarshal(e.Value(), &prev) == nil {
				if prev.Job == r.Job {
					// Recorded by a delivery whose acknowledgement was
					// lost: the job counts once.
					return prev.Count, nil
				}
				r.Count = prev.Count + 1
			}
			rev = e.Revision()
		}
		data, err := json.Marshal(r)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			_, err = w.q.kv.Create(ctx, key, data)
		} else {
			_, err = w.q.kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			return r.Count, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("%w: %w", ErrQueue, err)
		}
	}
	return 0, fmt.Errorf("%w: result of %s: too many concurrent updates", ErrQueue, r.Stream)
}

// process does the job: re-resolve, check the catalog, build and
// publish, deprecate the predecessors, plan the fleet.
func (w *Worker) process(ctx context.Context, job Job) (*Result, error) {
	res := &Result{Stream: job.Stream, Job: job.ID(), Fixes: job.Fixes}
	lock, err := resolve(ctx, job.Spec, w.o)
	if err != nil {
		return nil, err
	}
	if LockDigest(lock) != job.Lock {
		res.Outcome = Superseded
		return res, nil
	}
	st, err := staleness(ctx, w.store, job.Spec, lock, nil)
	if err != nil {
		return nil, err
	}
	var entry catalog.Entry
	if st == nil {
		// The catalog has this lock's image: a redelivered job whose
		// worker published and died before acknowledging.
		entry, err = w.store.Latest(ctx, catalog.StreamQuery(job.Spec.Ref()))
		if err != nil {
			return nil, fmt.Errorf("factory: %s: %w", job.Stream, err)
		}
		res.Outcome = AlreadyPublished
	} else {
		entry, err = w.build(ctx, st.Spec)
		if err != nil {
			return nil, fmt.Errorf("factory: build %s %s: %w", job.Stream, st.Spec.Ref().Version, err)
		}
		if entry.Ref.Stream() != job.Stream || entry.Ref.Version != st.Spec.Ref().Version {
			return nil, fmt.Errorf("factory: build of %s %s published %s", job.Stream, st.Spec.Ref().Version, entry.Ref)
		}
		res.Outcome = Published
	}
	res.Ref = &entry.Ref
	if res.Deprecated, err = w.deprecateOlder(ctx, entry); err != nil {
		return nil, err
	}
	if w.fleet != nil {
		nodes, err := w.fleet(ctx, job.Stream)
		if err != nil {
			return nil, fmt.Errorf("factory: fleet of %s: %w", job.Stream, err)
		}
		if len(nodes) > 0 {
			if res.Plan, err = catalog.PlanFleetFixes(ctx, w.store, nodes, w.o.fixes, w.plan...); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// deprecateOlder deprecates every entry of e's stream older than e that
// is not deprecated yet, with e as replacement. The deprecation time is
// e's publication time, so that redoing it records the same.
func (w *Worker) deprecateOlder(ctx context.Context, e catalog.Entry) ([]vm.Ref, error) {
	older, err := w.store.Find(ctx, catalog.StreamQuery(e.Ref))
	if err != nil {
		return nil, fmt.Errorf("factory: %s: %w", e.Ref.Stream(), err)
	}
	var done []vm.Ref
	for _, o := range older {
		if o.Ref.Version.Compare(e.Ref.Version) >= 0 {
			continue
		}
		repl := e.Ref
		d := catalog.Deprecation{Time: e.Published, Replacement: &repl, Reason: "replaced by " + e.Ref.Version.String()}
		if _, err := w.store.Deprecate(ctx, o.Ref, d); err != nil {
			return nil, fmt.Errorf("factory: deprecate %s: %w", o.Ref, err)
		}
		done = append(done, o.Ref)
	}
	return done, nil
}

// running is the value of a stream's running record in the bucket.
type running struct {
	Worker   string    `json:"worker"`
	Job      string    `json:"job"`
	Delivery uint64    `json:"delivery"`
	Until    time.Time `json:"until"` // the worker's clock
}

// runningKey is the bucket key of the running record of a stream token.
func runningKey(token string) string { return "running." + token }
