package factory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hardvm/hardvm/vm"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opencontainers/go-digest"
)

// The JetStream names the factory uses. Jobs are published on
// JobSubject.<stream token> (the stream's parts joined with dots), dead
// letters on DeadSubject.<stream token>.
const (
	JobStream   = "HARDVM_JOBS"
	JobSubject  = "hardvm.jobs"
	DeadStream  = "HARDVM_DEAD"
	DeadSubject = "hardvm.dead"
	Bucket      = "hardvm-factory"
	Consumer    = "workers"
	// ExhaustedStream keeps JetStream's advisories of jobs delivered the
	// maximum number of times without an acknowledgement (their workers
	// died or hung on every delivery), until [Queue.Sweep] dead-letters
	// them.
	ExhaustedStream = "HARDVM_EXHAUSTED"
)

// exhaustedSubject is the subject of JetStream's max-deliveries
// advisories for the workers' consumer.
const exhaustedSubject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + JobStream + "." + Consumer

// MaxJobSize bounds a job message.
const MaxJobSize = 1 << 20

// Job is one build: a stream's spec, versioned for the build, and the
// digest of the lock it resolved to when the job was made.
type Job struct {
	Stream string        `json:"stream"`
	Spec   vm.Spec       `json:"spec"`
	Lock   digest.Digest `json:"lock"`
	// Fixes are the security issues the build fixes, for people.
	Fixes []string `json:"fixes,omitempty"`
}

// ID is the job's de-duplication key: stream and lock digest. Enqueuing a
// job whose ID is already in the queue's duplicate window does nothing.
func (j Job) ID() string { return j.Stream + "@" + string(j.Lock) }

// Validate checks that the job names its spec's stream and a sha256 lock
// digest, and that the spec is valid.
func (j Job) Validate() error {
	if err := j.Spec.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrJob, err)
	}
	if s := j.Spec.Ref().Stream(); s != j.Stream {
		return fmt.Errorf("%w: stream %q, but the spec builds %s", ErrJob, j.Stream, s)
	}
	if j.Lock.Validate() != nil || j.Lock.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%w: lock digest %q", ErrJob, j.Lock)
	}
	return nil
}

// parseJob decodes and validates a job message.
func parseJob(data []byte) (Job, error) {
	var j Job
	if len(data) > MaxJobSize {
		return j, fmt.Errorf("%w: %d bytes (at most %d)", ErrJob, len(data), MaxJobSize)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return j, fmt.Errorf("%w: %v", ErrJob, err)
	}
	if dec.More() {
		return j, fmt.Errorf("%w: data after the job", ErrJob)
	}
	return j, j.Validate()
}

// DeadLetter is a job that failed on every delivery, with its last error,
// as published on DeadSubject.
type DeadLetter struct {
	Job        Job    `json:"job"`
	Error      string `json:"error"`
	Deliveries uint64 `json:"deliveries"`
	Worker     string `json:"worker,omitempty"`
}

// QueueOption configures [OpenQueue].
type QueueOption func(*queueOptions) error

type queueOptions struct {
	ackWait    time.Duration
	maxDeliver int
	dupWindow  time.Duration
	replicas   int
}

// WithAckWait sets how long a job may go without an acknowledgement or an
// in-progress heartbeat before it is redelivered (default 2 minutes).
// Workers send heartbeats every third of it.
func WithAckWait(d time.Duration) QueueOption {
	return func(o *queueOptions) error {
		if d < time.Second {
			return fmt.Errorf("%w: ack wait %s is under a second", ErrQueue, d)
		}
		o.ackWait = d
		return nil
	}
}

// WithMaxDeliver sets how many times a job is delivered before it goes to
// the dead-letter subject (default 3).
func WithMaxDeliver(n int) QueueOption {
	return func(o *queueOptions) error {
		if n < 1 {
			return fmt.Errorf("%w: max deliver %d", ErrQueue, n)
		}
		o.maxDeliver = n
		return nil
	}
}

// WithDuplicateWindow sets how long a job ID is remembered for
// de-duplication (default 1 hour): longer than a job waits and builds.
func WithDuplicateWindow(d time.Duration) QueueOption {
	return func(o *queueOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: duplicate window %s", ErrQueue, d)
		}
		o.dupWindow = d
		return nil
	}
}

// WithReplicas sets the replication of the streams and bucket (default 1;
// 3 on a 3-node cluster).
func WithReplicas(n int) QueueOption {
	return func(o *queueOptions) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("%w: replicas %d (want 1 to 5)", ErrQueue, n)
		}
		o.replicas = n
		return nil
	}
}

// Queue is the factory's job queue on JetStream: a work-queue stream of
// jobs with one durable pull consumer shared by all workers, a dead-letter
// stream, and a key-value bucket for state and results. It is safe for
// concurrent use.
type Queue struct {
	js   jetstream.JetStream
	jobs jetstream.Stream
	dead jetstream.Stream
	// exhausted holds the max-deliveries advisories (ExhaustedStream).
	exhausted jetstream.Stream
	cons      jetstream.Consumer
	kv        jetstream.KeyValue
	// indexes are the indexes the factory checked last (IndexBucket).
	indexes jetstream.ObjectStore
	o       queueOptions
}

// OpenQueue creates (or updates) the streams, consumer, key-value bucket
// and index object store on nc's JetStream and returns the queue. Factory and workers each open it.
func OpenQueue(ctx context.Context, nc *nats.Conn, opts ...QueueOption) (*Queue, error) {
	o := queueOptions{ackWait: 2 * time.Minute, maxDeliver: 3, dupWindow: time.Hour, replicas: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	q := &Queue{js: js, o: o}
	q.jobs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: JobStream, Description: "hardvm factory build jobs",
		Subjects: []string{JobSubject + ".>"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Replicas: o.replicas, Duplicates: o.dupWindow,
		MaxMsgSize: MaxJobSize,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", ErrQueue, JobStream, err)
	}
	q.dead, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: DeadStream, Description: "hardvm factory jobs that failed every delivery",
		Subjects: []string{DeadSubject + ".>"}, Storage: jetstream.FileStorage, Replicas: o.replicas,
		MaxMsgSize: 2 * MaxJobSize,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", ErrQueue, DeadStream, err)
	}
	q.exhausted, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: ExhaustedStream, Description: "JetStream advisories of hardvm jobs delivered the maximum number of times without an acknowledgement",
		Subjects: []string{exhaustedSubject}, Storage: jetstream.FileStorage, Replicas: o.replicas,
		MaxMsgSize: 64 << 10, MaxAge: 30 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", ErrQueue, ExhaustedStream, err)
	}
	q.cons, err = q.jobs.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: Consumer, Description: "hardvm workers",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.ackWait, MaxDeliver: o.maxDeliver,
		FilterSubject: JobSubject + ".>", MaxAckPending: 1000, Replicas: o.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: consumer %s: %w", ErrQueue, Consumer, err)
	}
	q.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "hardvm factory state: lease, running jobs, results",
		Storage: jetstream.FileStorage, Replicas: o.replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", ErrQueue, Bucket, err)
	}
	q.indexes, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: IndexBucket, Description: "hardvm factory: the repository indexes checked last",
		Storage: jetstream.FileStorage, Replicas: o.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", ErrQueue, IndexBucket, err)
	}
	return q, nil
}

// Enqueue publishes j, de-duplicated on j.ID(): it reports false when the
// same stream and lock are already queued (within the duplicate window).
func (q *Queue) Enqueue(ctx context.Context, j Job) (bool, error) {
	if err := j.Validate(); err != nil {
		return false, err
	}
	data, err := json.Marshal(j)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrJob, err)
	}
	ack, err := q.js.Publish(ctx, JobSubject+"."+streamToken(j.Stream), data, jetstream.WithMsgID(j.ID()))
	if err != nil {
		return false, fmt.Errorf("%w: enqueue %s: %w", ErrQueue, j.Stream, err)
	}
	return !ack.Duplicate, nil
}

// deadLetter publishes d on the dead-letter subject.
func (q *Queue) deadLetter(ctx context.Context, d DeadLetter, msgID string) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = q.js.Publish(ctx, DeadSubject+"."+streamToken(d.Job.Stream), data, jetstream.WithMsgID(msgID))
	return err
}

// maxDeliverAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver advisory Sweep reads.
type maxDeliverAdvisory struct {
	Type       string `json:"type"`
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// ErrExhausted is the error of a dead letter whose job was delivered the
// maximum number of times and never acknowledged nor failed: its worker
// died (killed, out of memory) or hung on every delivery.
var ErrExhausted = errors.New("factory: delivered the maximum number of times without an acknowledgement: the worker died or hung on every delivery")

// Sweep dead-letters the jobs JetStream gave up on: a job whose worker
// died on every delivery never reaches a worker's own dead-lettering, and
// JetStream, at the maximum delivery count, stops delivering it and
// publishes an advisory (when a worker next asks for a job), which
// ExhaustedStream keeps. Sweep publishes each
// such job as a [DeadLetter] (error [ErrExhausted]) and removes it from
// the queue, and returns how many it moved. It is idempotent (the dead
// letter is de-duplicated) and safe to run from several processes; a
// [Factory] runs it on each poll.
func (q *Queue) Sweep(ctx context.Context) (int, error) {
	info, err := q.exhausted.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	n := 0
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := q.exhausted.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("%w: %w", ErrQueue, err)
		}
		var adv maxDeliverAdvisory
		if err := json.Unmarshal(m.Data, &adv); err == nil && adv.Stream == JobStream && adv.Consumer == Consumer && adv.StreamSeq > 0 {
			moved, err := q.exhaust(ctx, adv)
			if err != nil {
				return n, err
			}
			if moved {
				n++
			}
		}
		if err := q.exhausted.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("%w: %w", ErrQueue, err)
		}
	}
	return n, nil
}

// exhaust dead-letters the job of adv and removes it from the queue; it
// reports false when the job is gone already (acknowledged since).
func (q *Queue) exhaust(ctx context.Context, adv maxDeliverAdvisory) (bool, error) {
	m, err := q.jobs.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	job, jerr := parseJob(m.Data)
	cause := ErrExhausted.Error()
	if jerr != nil {
		cause += "; " + jerr.Error()
	}
	d := DeadLetter{Job: job, Error: cause, Deliveries: adv.Deliveries}
	if d.Job.Stream == "" {
		d.Job.Stream = streamOf(strings.TrimPrefix(m.Subject, JobSubject+"."))
	}
	if err := q.deadLetter(ctx, d, fmt.Sprintf("%s#%d", job.ID(), adv.StreamSeq)); err != nil {
		return false, fmt.Errorf("%w: dead letter: %w", ErrQueue, err)
	}
	if err := q.jobs.DeleteMsg(ctx, adv.StreamSeq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return true, nil
}

// DeadLetters returns the dead letters, oldest first.
func (q *Queue) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	info, err := q.dead.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	var out []DeadLetter
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := q.dead.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrQueue, err)
		}
		var d DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return nil, fmt.Errorf("%w: dead letter %d: %v", ErrJob, seq, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// StreamStatus is the state of one stream's jobs.
type StreamStatus struct {
	Stream string `json:"stream"`
	Queued uint64 `json:"queued"` // in the queue, running or not
	// Running is the worker building the stream, "" when none: a worker
	// that stopped heartbeating (killed, partitioned) is not running it
	// any more once the queue's ack wait has passed since its last
	// heartbeat, which is when JetStream redelivers its job.
	Running string `json:"running"`
	// Delivery is which delivery of the job the running worker has.
	Delivery uint64 `json:"delivery,omitempty"`
	Done     int    `json:"done"` // jobs completed
	Dead     uint64 `json:"dead"` // jobs on the dead-letter subject
	// Last is the result of the last completed job.
	Last *Result `json:"last,omitempty"`
}

// Status returns each stream's queued, running, done and dead jobs, by
// stream; streams with none of these are left out.
func (q *Queue) Status(ctx context.Context) ([]StreamStatus, error) {
	by := map[string]*StreamStatus{}
	get := func(token string) *StreamStatus {
		if s, ok := by[token]; ok {
			return s
		}
		s := &StreamStatus{Stream: streamOf(token)}
		by[token] = s
		return s
	}
	for _, c := range []struct {
		s      jetstream.Stream
		prefix string
		set    func(*StreamStatus, uint64)
	}{
		{q.jobs, JobSubject + ".", func(s *StreamStatus, n uint64) { s.Queued = n }},
		{q.dead, DeadSubject + ".", func(s *StreamStatus, n uint64) { s.Dead = n }},
	} {
		info, err := c.s.Info(ctx, jetstream.WithSubjectFilter(c.prefix+">"))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrQueue, err)
		}
		for subj, n := range info.State.Subjects {
			c.set(get(strings.TrimPrefix(subj, c.prefix)), n)
		}
	}
	keys, err := q.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	for k := range keys.Keys() {
		kind, token, ok := strings.Cut(k, ".")
		if !ok || (kind != "running" && kind != "done") {
			continue
		}
		e, err := q.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrQueue, err)
		}
		if kind == "running" {
			var r running
			if json.Unmarshal(e.Value(), &r) == nil && time.Now().Before(r.Until) {
				s := get(token)
				s.Running, s.Delivery = r.Worker, r.Delivery
			}
			continue
		}
		s := get(token)
		var r Result
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return nil, fmt.Errorf("%w: result of %s: %v", ErrQueue, token, err)
		}
		s.Done, s.Last = r.Count, &r
	}
	out := make([]StreamStatus, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b StreamStatus) int { return strings.Compare(a.Stream, b.Stream) })
	return out, nil
}
