package factory

import "errors"

var (
	// ErrSpec reports a stream spec the factory cannot work with: invalid,
	// or a stream listed twice.
	ErrSpec = errors.New("factory: invalid stream")
	// ErrLock reports a lock a version cannot be derived from (no package
	// build times).
	ErrLock = errors.New("factory: unusable lock")
	// ErrJob reports a job message that is not a valid job.
	ErrJob = errors.New("factory: invalid job")
	// ErrQueue reports a failure of the job queue (NATS JetStream).
	ErrQueue = errors.New("factory: queue")
	// ErrLease reports that another scheduler holds the factory's lease.
	ErrLease = errors.New("factory: lease held by another scheduler")
	// ErrServer reports an embedded NATS server that did not start.
	ErrServer = errors.New("factory: embedded NATS server")
)
