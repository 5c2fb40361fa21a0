package factory_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/image/apk/secdb"
	"github.com/hardvm/hardvm/vm"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The queue settings of the worker tests: a job whose worker stops
// heartbeating is redelivered after 3 s.
func queueOpts() []factory.QueueOption {
	return []factory.QueueOption{factory.WithAckWait(3 * time.Second), factory.WithMaxDeliver(3)}
}

// exhaustOpts are the queue settings of TestExhausted: redelivery after
// 1 s, at most 2 deliveries.
func exhaustOpts() []factory.QueueOption {
	return []factory.QueueOption{factory.WithAckWait(time.Second), factory.WithMaxDeliver(2)}
}

// TestMain runs a worker process when the test binary is started as one
// by TestWorkers or TestCluster (FACTORY_TEST_WORKER is the NATS URL, or
// several separated by commas).
func TestMain(m *testing.M) {
	if url := os.Getenv("FACTORY_TEST_WORKER"); url != "" {
		if err := workerProcess(url); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "factory-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// workerProcess is one worker in its own process, with the real
// hardvm.Release as its build. With FACTORY_TEST_VICTIM set, its build
// announces itself in that file and then hangs (a stand-in for a build
// that takes long), to be killed with SIGKILL in the middle of it.
// FACTORY_TEST_CATALOG is a directory or oci://HOST/REPO (plain HTTP);
// FACTORY_TEST_REPLICAS the queue's replication.
func workerProcess(url string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer nc.Close()
	qo := queueOpts()
	if os.Getenv("FACTORY_TEST_FAST_EXHAUST") != "" {
		qo = exhaustOpts()
	}
	if r := os.Getenv("FACTORY_TEST_REPLICAS"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil {
			return err
		}
		qo = append(qo, factory.WithReplicas(n))
	}
	q, err := factory.OpenQueue(ctx, nc, qo...)
	if err != nil {
		return err
	}
	var store catalog.Store
	if repo, ok := strings.CutPrefix(os.Getenv("FACTORY_TEST_CATALOG"), "oci://"); ok {
		store, err = oci.New(repo, oci.WithInsecure())
	} else {
		store, err = local.Open(os.Getenv("FACTORY_TEST_CATALOG"))
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	build := factory.ReleaseFunc(os.Getenv("FACTORY_TEST_OUT"), hardvm.WithStore(store), hardvm.PublishNotBootableUnsafe(), hardvm.WithLogger(log))
	if victim := os.Getenv("FACTORY_TEST_VICTIM"); victim != "" {
		build = func(ctx context.Context, spec vm.Spec) (catalog.Entry, error) {
			if err := os.WriteFile(victim, []byte(spec.Ref().Stream()), 0o644); err != nil {
				return catalog.Entry{}, err
			}
			<-ctx.Done() // killed here
			return catalog.Entry{}, ctx.Err()
		}
	}
	w, err := factory.NewWorker(q, store, build, []factory.Option{factory.WithLogger(log), factory.WithID(fmt.Sprintf("worker-%d", os.Getpid()))})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// startWorker starts a worker process (see workerProcess) with the
// environment's extra variables (NAME=value).
func startWorker(t *testing.T, url, catalogDir, outDir, victim string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FACTORY_TEST_WORKER="+url, "FACTORY_TEST_CATALOG="+catalogDir,
		"FACTORY_TEST_OUT="+outDir, "FACTORY_TEST_VICTIM="+victim)
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = &testWriter{t: t, prefix: filepath.Base(victim) + filepath.Base(outDir) + " worker: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd
}

type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// streamStatus returns the queue's status of stream (zero when it has
// none).
func streamStatus(t *testing.T, q *factory.Queue, stream string) factory.StreamStatus {
	t.Helper()
	st, err := q.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Stream == stream {
			return s
		}
	}
	return factory.StreamStatus{Stream: stream}
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline, ok := t.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Minute)
	}
	for time.Now().Before(deadline.Add(-10 * time.Second)) {
		done, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if done {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// TestWorkers runs the factory on an embedded NATS server listening on
// 127.0.0.1 and workers in their own processes, with real builds
// (hardvm.Release of the demo and extras repositories: real erofs,
// dm-verity, GPT disks, signed attestations, verified before publishing;
// the kernel packages are stand-ins, so the images do not boot) into a
// real local catalog. One worker is killed with SIGKILL in the middle of a
// build: its job is redelivered to the other, every stream is published
// exactly once, and re-polling queues nothing. Then two packages are
// bumped: exactly the stream that installs one (nginx) is rebuilt, the predecessors deprecated
// with a pointer to their replacements, and the nginx delta names its
// CVE; the fleet plan replaces the nodes with the new image.
func TestWorkers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRepos(t)
	var ss []vm.Spec
	for _, s := range specs(r.demo, r.extras) {
		if s.Platform == vm.QEMU && s.Kernel == vm.Stable && s.Variant != "squid" {
			ss = append(ss, s)
		}
	}
	url, q := listening(t, dir, queueOpts()...)
	catalogDir, outDir := filepath.Join(dir, "catalog"), filepath.Join(dir, "out")
	store, err := local.Open(catalogDir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := secdb.Parse([]byte(secdbJSON))
	if err != nil {
		t.Fatal(err)
	}
	f, err := factory.NewFactory(q, store, ss, factory.WithCacheDir(filepath.Join(dir, "cache")), factory.WithFixes(db))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AcquireLease(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, n, err := f.Poll(ctx); err != nil || n != 2 {
		t.Fatalf("first poll: %d jobs, %v; want 2", n, err)
	}
	if _, n, err := f.Poll(ctx); err != nil || n != 0 {
		t.Fatalf("second poll while queued: %d new jobs, %v; want 0 (de-duplicated)", n, err)
	}

	victimFile := filepath.Join(dir, "victim")
	victim := startWorker(t, url, catalogDir, outDir, victimFile)
	waitFor(t, "the victim to start a build", func() (bool, error) {
		_, err := os.Stat(victimFile)
		return err == nil, nil
	})
	killed, err := os.ReadFile(victimFile)
	if err != nil || len(killed) == 0 {
		t.Fatalf("victim's stream: %q, %v", killed, err)
	}
	victimID := fmt.Sprintf("worker-%d", victim.Process.Pid)
	if s := streamStatus(t, q, string(killed)); s.Running != victimID || s.Delivery != 1 {
		t.Errorf("status while the victim builds: %+v, want running on %s", s, victimID)
	}
	if err := victim.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	victim.Wait()
	// The killed worker's running record stops being believed once its
	// heartbeat is older than the ack wait; its job is still queued.
	waitFor(t, "the killed worker to stop being reported running", func() (bool, error) {
		s := streamStatus(t, q, string(killed))
		return s.Running == "" && s.Queued == 1, nil
	})
	survivor := startWorker(t, url, catalogDir, outDir, "")

	all := func() ([]catalog.Entry, error) {
		return store.Find(ctx, catalog.Query{IncludeDeprecated: true})
	}
	waitFor(t, "two published streams", func() (bool, error) {
		st, err := q.Status(ctx)
		if err != nil {
			return false, err
		}
		done := 0
		for _, s := range st {
			done += s.Done
		}
		return done == 2, nil
	})
	entries, err := all()
	if err != nil {
		t.Fatal(err)
	}
	var published []string
	for _, e := range entries {
		published = append(published, e.Ref.String())
		if e.Ref.Version != (vm.Version{Epoch: release1Time}) {
			t.Errorf("%s: version is not the newest package build time", e.Ref)
		}
	}
	if len(entries) != 2 {
		t.Fatalf("catalog has %d entries, want one per stream: %v", len(entries), published)
	}
	st, err := q.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Queued != 0 || s.Dead != 0 || s.Done != 1 || s.Last == nil || s.Last.Outcome != factory.Published {
			t.Errorf("status of %s: %+v", s.Stream, s)
		}
		if s.Stream == string(killed) && (s.Last.Worker == victimID || s.Last.Delivery != 2) {
			t.Errorf("the killed worker's job was not redelivered to the survivor: %+v", s.Last)
		}
	}
	if _, n, err := f.Poll(ctx); err != nil || n != 0 {
		t.Fatalf("poll after publishing: %d jobs, %v; want 0", n, err)
	}

	// Two packages bumped; an in-process worker this time, with a fleet.
	survivor.Process.Signal(syscall.SIGTERM)
	if err := survivor.Wait(); err != nil {
		t.Fatalf("worker process: %v", err)
	}
	r.bump(t)
	if _, n, err := f.Poll(ctx); err != nil || n != 1 {
		t.Fatalf("poll after the bump: %d jobs, %v; want 1 (nginx; base installs neither bumped package)", n, err)
	}
	old := map[string]vm.Ref{}
	for _, e := range entries {
		old[e.Ref.Stream()] = e.Ref
	}
	fleet := func(_ context.Context, stream string) ([]vm.Node, error) {
		return []vm.Node{{ID: "n1", Zone: "a", Ref: old[stream]}, {ID: "n2", Zone: "b", Ref: old[stream]}}, nil
	}
	w, err := factory.NewWorker(q, store, factory.ReleaseFunc(outDir, hardvm.WithStore(store), hardvm.PublishNotBootableUnsafe()),
		[]factory.Option{factory.WithFixes(db), factory.WithID("in-process")}, factory.WithFleet(fleet, vm.WithMaxSurge(1)))
	if err != nil {
		t.Fatal(err)
	}
	var results []*factory.Result
	for try := 0; len(results) < 1; try++ {
		if try == 20 {
			t.Fatalf("no job done after %d tries", try)
		}
		res, err := w.RunOnce(ctx, 5*time.Second)
		if errors.Is(err, jetstream.ErrNoMessages) {
			continue
		}
		if err != nil || res == nil {
			t.Fatalf("RunOnce: %v, %v", res, err)
		}
		results = append(results, res)
	}
	for _, res := range results {
		if res.Outcome != factory.Published || res.Ref == nil || res.Ref.Version != (vm.Version{Epoch: release2Time}) {
			t.Fatalf("result %+v", res)
		}
		if !slices.Equal(res.Deprecated, []vm.Ref{old[res.Stream]}) {
			t.Errorf("%s: deprecated %v, want %v", res.Stream, res.Deprecated, old[res.Stream])
		}
		prev, err := store.Get(ctx, old[res.Stream])
		if err != nil {
			t.Fatal(err)
		}
		if d := prev.Deprecation; d == nil || d.Replacement == nil || d.Replacement.Version != res.Ref.Version {
			t.Errorf("%s: predecessor's deprecation %+v", res.Stream, d)
		}
		wantFix := strings.HasPrefix(res.Stream, "nginx/")
		if got := slices.Contains(res.Fixes, "CVE-2026-1111"); got != wantFix {
			t.Errorf("%s: fixes %v", res.Stream, res.Fixes)
		}
		sp := res.Plan.Streams[0]
		if sp.Target.Version != res.Ref.Version || sp.Plan.Replaced() != 2 || len(sp.Newer) != 0 {
			t.Errorf("%s: plan to %s replaces %d", res.Stream, sp.Target.Version, sp.Plan.Replaced())
		}
		if got := len(sp.Sources[0].Delta.Fixes) > 0; got != wantFix {
			t.Errorf("%s: plan delta fixes %v", res.Stream, sp.Sources[0].Delta.Fixes)
		}
	}
	entries, err = all()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("catalog has %d entries after the bump, want 3", len(entries))
	}
	if _, n, err := f.Poll(ctx); err != nil || n != 0 {
		t.Fatalf("poll after the rebuild: %d jobs, %v; want 0", n, err)
	}
}

// listening starts a NATS server in this process on a port of 127.0.0.1
// (worker processes connect to the URL it returns) and opens the queue on
// it with opts.
func listening(t *testing.T, dir string, opts ...factory.QueueOption) (string, *factory.Queue) {
	t.Helper()
	srv, err := factory.StartServer(filepath.Join(dir, "nats"), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := factory.Connect(srv, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := factory.OpenQueue(context.Background(), nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL(), q
}

// TestExhausted: a job whose worker is killed (SIGKILL, a real worker
// process) on every delivery never reaches a worker's dead-lettering;
// JetStream gives up at the maximum delivery count and advises so, and
// the factory's next poll moves the job to the dead-letter subject with
// ErrExhausted, out of the queue.
func TestExhausted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRepos(t)
	ss := specs(r.demo, r.extras)[:1]
	url, q := listening(t, dir, exhaustOpts()...)
	catalogDir := filepath.Join(dir, "catalog")
	store, err := local.Open(catalogDir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := factory.NewFactory(q, store, ss)
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := f.Poll(ctx); err != nil || n != 1 {
		t.Fatalf("poll: %d jobs, %v; want 1", n, err)
	}
	for delivery := 1; delivery <= 2; delivery++ {
		victimFile := filepath.Join(dir, fmt.Sprintf("victim%d", delivery))
		victim := startWorker(t, url, catalogDir, filepath.Join(dir, "out"), victimFile, "FACTORY_TEST_FAST_EXHAUST=1")
		waitFor(t, fmt.Sprintf("delivery %d to start building", delivery), func() (bool, error) {
			_, err := os.Stat(victimFile)
			return err == nil, nil
		})
		if s := streamStatus(t, q, ss[0].Ref().Stream()); s.Delivery != uint64(delivery) {
			t.Errorf("status: %+v, want delivery %d running", s, delivery)
		}
		if err := victim.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		victim.Wait()
	}
	// JetStream notices the exhausted job when a worker next asks for one
	// (then it advises instead of delivering a third time).
	startWorker(t, url, catalogDir, filepath.Join(dir, "out"), "", "FACTORY_TEST_FAST_EXHAUST=1")
	var dead []factory.DeadLetter
	waitFor(t, "the exhausted job to be dead-lettered", func() (bool, error) {
		if _, _, err := f.Poll(ctx); err != nil {
			return false, err
		}
		var err error
		dead, err = q.DeadLetters(ctx)
		return len(dead) > 0, err
	})
	if d := dead[0]; len(dead) != 1 || d.Job.Stream != ss[0].Ref().Stream() || d.Deliveries != 2 || d.Error != factory.ErrExhausted.Error() {
		t.Errorf("dead letters %+v", dead)
	}
	if s := streamStatus(t, q, ss[0].Ref().Stream()); s.Queued != 0 || s.Dead != 1 || s.Running != "" {
		t.Errorf("status after the sweep: %+v", s)
	}
	if n, err := q.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("second sweep moved %d, %v", n, err)
	}
}
