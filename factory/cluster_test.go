package factory_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// natsNode is one nats-server process of a test cluster.
type natsNode struct {
	name, url string
	cmd       *exec.Cmd
}

// natsCluster starts n nats-server processes (the binary `make deps`
// installs) on 127.0.0.1, routed to each other as one JetStream cluster,
// each storing in its own temporary directory, and returns them once
// JetStream answers with a meta leader.
func natsCluster(t *testing.T, n int) []*natsNode {
	t.Helper()
	bin := testtool.Require(t, "nats-server")
	dir := t.TempDir()
	client, route := make([]int, n), make([]int, n)
	var routes []string
	for i := range n {
		client[i], route[i] = freePort(t), freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", route[i]))
	}
	nodes := make([]*natsNode, n)
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		cfg := filepath.Join(dir, name+".conf")
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
max_payload: %d
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: hardvm-test
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, name, client[i], 2*factory.MaxJobSize, filepath.Join(dir, name), route[i], strings.Join(routes, ", "))
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", cfg)
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		node := &natsNode{name: name, url: fmt.Sprintf("nats://127.0.0.1:%d", client[i]), cmd: cmd}
		nodes[i] = node
		t.Cleanup(func() {
			if node.cmd.ProcessState == nil {
				node.cmd.Process.Signal(syscall.SIGTERM)
				node.cmd.Wait()
			}
			log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(log.Name())
				t.Logf("%s log:\n%s", node.name, b)
			}
		})
	}
	nc := connectCluster(t, nodes)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the JetStream cluster to elect a meta leader", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil, nil
	})
	return nodes
}

// clusterURL is the comma-separated URLs of nodes, as nats.Connect takes
// them.
func clusterURL(nodes []*natsNode) string {
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url)
	}
	return strings.Join(urls, ",")
}

// connectCluster connects to any node, reconnecting to the others when
// its node stops.
func connectCluster(t *testing.T, nodes []*natsNode) *nats.Conn {
	t.Helper()
	var nc *nats.Conn
	waitFor(t, "a NATS node to accept connections", func() (bool, error) {
		var err error
		nc, err = nats.Connect(clusterURL(nodes), nats.Name("test"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		return err == nil, nil
	})
	t.Cleanup(nc.Close)
	return nc
}

// dockerRegistry starts Debian's docker-registry on 127.0.0.1 with its
// storage in memory where it can be, and returns its host:port.
func dockerRegistry(t *testing.T) string {
	t.Helper()
	return testtool.DockerRegistry(t, shmTempDir(t))
}

// TestCluster runs the factory as it runs across machines: a 3-node
// JetStream cluster of real nats-server processes (streams, consumer and
// bucket replicated 3 times), Debian's docker-registry as the catalog
// (the OCI store), and three worker processes with real builds
// (hardvm.Release: erofs, dm-verity, GPT, signed attestations, verified
// before publishing; the kernel packages of the demo repository are
// stand-ins, so the images do not boot) of the 12 test streams (as qcow2
// disks, with Nutanix for AWS, whose disks are whole GiBs). One
// worker is killed with SIGKILL in the middle of a build (its build is a
// stand-in that hangs) and one NATS node is killed during the run: every
// job still completes, the killed worker's job on a second delivery by
// another worker, every stream is published exactly once (the registry's
// catalog entries counted), nothing is dead, queued or enqueued again.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRepos(t)
	ss := specs(r.demo, r.extras)
	for i := range ss { // small disks: qcow2 holds only the written clusters
		if ss[i].Platform == vm.AWS { // whose disks are whole GiBs
			ss[i].Platform = vm.Nutanix
		}
		ss[i].Formats = []vm.DiskFormat{vm.FormatQCOW2}
	}
	nodes := natsCluster(t, 3)
	nc := connectCluster(t, nodes)
	var q *factory.Queue
	waitFor(t, "the replicated streams and bucket", func() (bool, error) {
		var err error
		q, err = factory.OpenQueue(ctx, nc, append(queueOpts(), factory.WithReplicas(3))...)
		if err != nil {
			t.Logf("OpenQueue: %v", err)
		}
		return err == nil, nil
	})
	catalogRepo := dockerRegistry(t) + "/hardvm/catalog"
	store, err := oci.New(catalogRepo, oci.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	f, err := factory.NewFactory(q, store, ss, factory.WithCacheDir(filepath.Join(dir, "cache")))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.AcquireLease(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, n, err := f.Poll(ctx); err != nil || n != len(ss) {
		t.Fatalf("first poll: %d jobs, %v; want %d", n, err, len(ss))
	}

	// done returns how many streams have a completed job, tolerating the
	// queue's errors while the cluster recovers from the stopped node.
	done := func() (int, []factory.StreamStatus) {
		st, err := q.Status(ctx)
		if err != nil {
			t.Logf("status: %v", err)
			return -1, nil
		}
		n := 0
		for _, s := range st {
			if s.Done > 0 {
				n++
			}
		}
		return n, st
	}
	url, cat := clusterURL(nodes), "oci://"+catalogRepo
	victimFile := filepath.Join(dir, "victim")
	victim := startWorker(t, url, cat, filepath.Join(dir, "out0"), victimFile, "FACTORY_TEST_REPLICAS=3")
	waitFor(t, "the victim to start a build", func() (bool, error) {
		_, err := os.Stat(victimFile)
		return err == nil, nil
	})
	killed, err := os.ReadFile(victimFile)
	if err != nil || len(killed) == 0 {
		t.Fatalf("victim's stream: %q, %v", killed, err)
	}
	for i := 1; i <= 2; i++ {
		startWorker(t, url, cat, filepath.Join(dir, fmt.Sprintf("out%d", i)), "", "FACTORY_TEST_REPLICAS=3")
	}
	waitFor(t, "the workers to complete a job", func() (bool, error) {
		n, _ := done()
		return n >= 1, nil
	})
	// Stop a node (SIGKILL: no goodbye to its peers) while jobs are queued
	// and running; then kill the victim in the middle of its build.
	stopped := nodes[0]
	atStop, _ := done()
	if err := stopped.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	stopped.cmd.Wait()
	t.Logf("NATS node %s stopped with %d of %d streams done", stopped.name, atStop, len(ss))
	if err := victim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	victim.Wait()

	var st []factory.StreamStatus
	waitFor(t, "every stream to complete", func() (bool, error) {
		var n int
		n, st = done()
		return n == len(ss), nil
	})
	// Every stream completed once: no job ran twice to completion.
	for _, s := range st {
		// A job whose worker published and lost its connection before
		// acknowledging is redelivered and finds its image published.
		if s.Queued != 0 || s.Dead != 0 || s.Done != 1 || s.Last == nil || (s.Last.Outcome != factory.Published && s.Last.Outcome != factory.AlreadyPublished) {
			t.Errorf("status of %s: %+v", s.Stream, s)
			continue
		}
		if s.Stream == string(killed) && (s.Last.Delivery < 2 || s.Last.Worker == fmt.Sprintf("worker-%d", victim.Process.Pid)) {
			t.Errorf("the killed worker's job was not redelivered: %+v", s.Last)
		}
	}
	entries, err := store.Find(ctx, catalog.Query{IncludeDeprecated: true})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, e := range entries {
		per[e.Ref.Stream()]++
	}
	for _, s := range ss {
		if n := per[s.Ref().Stream()]; n != 1 {
			t.Errorf("%s: %d catalog entries, want 1", s.Ref().Stream(), n)
		}
	}
	if len(entries) != len(ss) {
		t.Errorf("the registry has %d catalog entries, want %d", len(entries), len(ss))
	}
	if dead, err := q.DeadLetters(ctx); err != nil || len(dead) != 0 {
		t.Errorf("dead letters %+v, %v", dead, err)
	}
	if _, n, err := f.Poll(ctx); err != nil || n != 0 {
		t.Errorf("poll after publishing: %d jobs, %v; want 0", n, err)
	}
}

// shmTempDir returns a temporary directory in memory (/dev/shm) when the
// machine has one, else t.TempDir(): docker-registry syncs every blob it
// writes, which on a loaded disk costs seconds per image.
func shmTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "factory-test")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
