package factory_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/vm"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opencontainers/go-digest"
)

// embedded starts the default setup: a NATS server in this process with
// no port, and a connection to it.
func embedded(t *testing.T, opts ...factory.QueueOption) *factory.Queue {
	t.Helper()
	srv, err := factory.StartServer(filepath.Join(t.TempDir(), "nats"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if srv.ClientURL() != "" && srv.Addr() != nil {
		t.Errorf("the default embedded server listens on %v", srv.Addr())
	}
	nc, err := factory.Connect(srv, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := factory.OpenQueue(context.Background(), nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestDeadLetter: a job whose spec always fails (its repository does not
// exist) is delivered the maximum number of times, then lands on the
// dead-letter subject with its error, and is gone from the queue.
func TestDeadLetter(t *testing.T) {
	ctx := context.Background()
	q := embedded(t, factory.WithAckWait(time.Second), factory.WithMaxDeliver(2))
	spec := vm.Spec{Variant: "base", Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1,
		Repositories: []vm.Repository{{URL: "file://" + filepath.Join(t.TempDir(), "missing"), Keys: []string{"/nonexistent.rsa.pub"}, Family: vm.Wolfi}}}
	job := factory.Job{Stream: spec.Ref().Stream(), Spec: spec, Lock: digest.FromString("lock")}
	if added, err := q.Enqueue(ctx, job); err != nil || !added {
		t.Fatalf("Enqueue: %v, %v", added, err)
	}
	built := 0
	w, err := factory.NewWorker(q, catalogtest.NewMemStore(), func(context.Context, vm.Spec) (catalog.Entry, error) {
		built++
		return catalog.Entry{}, errors.New("never called: resolving fails first")
	}, []factory.Option{factory.WithID("w1")})
	if err != nil {
		t.Fatal(err)
	}
	var dead []factory.DeadLetter
	for try := 0; len(dead) == 0; try++ {
		if try == 10 {
			t.Fatal("no dead letter after 10 tries")
		}
		res, err := w.RunOnce(ctx, 3*time.Second)
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			t.Fatal(err)
		}
		if res != nil {
			t.Fatalf("a failing job succeeded: %+v", res)
		}
		if dead, err = q.DeadLetters(ctx); err != nil {
			t.Fatal(err)
		}
	}
	d := dead[0]
	if len(dead) != 1 || d.Job.ID() != job.ID() || d.Deliveries != 2 || d.Worker != "w1" || !strings.Contains(d.Error, "missing") {
		t.Errorf("dead letters %+v", dead)
	}
	if built != 0 {
		t.Errorf("built %d times", built)
	}
	st, err := q.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Stream != job.Stream || st[0].Dead != 1 || st[0].Queued != 0 || st[0].Done != 0 {
		t.Errorf("status %+v", st)
	}
	if res, err := w.RunOnce(ctx, 1500*time.Millisecond); !errors.Is(err, jetstream.ErrNoMessages) {
		t.Errorf("queue not empty after the dead letter: %+v, %v", res, err)
	}
}

// TestEnqueue: jobs are de-duplicated on stream + lock, invalid jobs are
// refused before they reach the queue.
func TestEnqueue(t *testing.T) {
	ctx := context.Background()
	q := embedded(t)
	spec := vm.Spec{Variant: "base", Platform: vm.AWS, Arch: vm.X86_64, SourceDateEpoch: 1764000000,
		Repositories: []vm.Repository{{URL: "https://packages.wolfi.dev/os", Keys: []string{"https://packages.wolfi.dev/os/wolfi-signing.rsa.pub"}, Family: vm.Wolfi}}}
	job := factory.Job{Stream: "base/aws/x86_64/stable", Spec: spec, Lock: digest.FromString("a")}
	for i, want := range []bool{true, false, false} {
		if added, err := q.Enqueue(ctx, job); err != nil || added != want {
			t.Fatalf("Enqueue #%d: %v, %v; want %v", i, added, err, want)
		}
	}
	// Another lock of the same stream is another job; another version of
	// the same lock is not.
	other := job
	other.Lock = digest.FromString("b")
	if added, err := q.Enqueue(ctx, other); err != nil || !added {
		t.Fatalf("another lock: %v, %v", added, err)
	}
	again := job
	again.Spec.Build = 3
	if added, err := q.Enqueue(ctx, again); err != nil || added {
		t.Fatalf("same lock, another version: %v, %v", added, err)
	}
	st, err := q.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Stream != job.Stream || st[0].Queued != 2 {
		t.Errorf("status %+v", st)
	}
	for name, j := range map[string]factory.Job{
		"stream of another spec": {Stream: "nginx/aws/x86_64/stable", Spec: spec, Lock: job.Lock},
		"bad lock digest":        {Stream: job.Stream, Spec: spec, Lock: "sha256:zz"},
		"md5 lock":               {Stream: job.Stream, Spec: spec, Lock: "md5:d41d8cd98f00b204e9800998ecf8427e"},
		"invalid spec":           {Stream: job.Stream, Spec: vm.Spec{Variant: "base"}, Lock: job.Lock},
	} {
		if _, err := q.Enqueue(ctx, j); !errors.Is(err, factory.ErrJob) {
			t.Errorf("%s: %v, want ErrJob", name, err)
		}
	}
}

// TestLease: one scheduler at a time; the lease passes on when it
// expires.
func TestLease(t *testing.T) {
	ctx := context.Background()
	q := embedded(t)
	store := catalogtest.NewMemStore()
	a, err := factory.NewFactory(q, store, nil, factory.WithID("a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := factory.NewFactory(q, store, nil, factory.WithID("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AcquireLease(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.AcquireLease(ctx, time.Hour); err != nil {
		t.Fatalf("renewing: %v", err)
	}
	if err := b.AcquireLease(ctx, time.Hour); !errors.Is(err, factory.ErrLease) || !strings.Contains(err.Error(), "a until") {
		t.Fatalf("b took a's lease: %v", err)
	}
	if err := a.AcquireLease(ctx, -time.Second); err != nil { // expired at once
		t.Fatal(err)
	}
	if err := b.AcquireLease(ctx, time.Hour); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
}
