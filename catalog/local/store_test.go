package local_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

func open(t testing.TB, dir string) *local.Store {
	t.Helper()
	s, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreConformance(t *testing.T) {
	catalogtest.RunStore(t, func(t *testing.T) catalog.Store { return open(t, t.TempDir()) })
}

// Two Store values on one directory see each other's writes.
func TestStoreSharedDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := open(t, dir), open(t, dir)
	e := catalogtest.NewEntry("base/aws/x86_64/stable", 1, 3)
	if _, err := a.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Latest(ctx, catalog.Query{}); err != nil || got.Ref != e.Ref {
		t.Fatalf("b.Latest after a.Put: %v, %v", got.Ref, err)
	}
	e2 := catalogtest.NewEntry("base/aws/x86_64/stable", 2, 3)
	if _, err := b.Put(ctx, e2); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Latest(ctx, catalog.Query{}); err != nil || got.Ref != e2.Ref {
		t.Fatalf("a.Latest after b.Put: %v, %v", got.Ref, err)
	}
}

func TestStoreCorruptIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	for n := range 3 {
		if _, err := s.Put(ctx, catalogtest.NewEntry("base/aws/x86_64/stable", n, 2)); err != nil {
			t.Fatal(err)
		}
	}
	good, err := os.ReadFile(filepath.Join(dir, "index"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	for _, tc := range []struct {
		name  string
		index string
		want  string
	}{
		{"empty", "", "empty index"},
		{"not an index", "hello\n", "header"},
		{"version", strings.Replace(string(good), `"version":1`, `"version":9`, 1), "version 9"},
		{"truncated", strings.Join(lines[:3], ""), "truncated: 2 of 3 entries"},
		{"no trailer", strings.Join(lines[:4], ""), "no checksum trailer"},
		{"flipped byte", strings.Replace(string(good), "2026", "2027", 1), "line 5: checksum"},
		{"bad record", strings.Replace(string(good), `"entry":"sha256:`, `"entry":"md5:`, 1), "line 2"},
		{"unknown field", strings.Replace(string(good), `"published"`, `"publishd"`, 1), "unknown field"},
		{"trailing data", string(good) + "{}\n", "after the trailer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			os.MkdirAll(filepath.Join(d, "entries"), 0o755)
			os.WriteFile(filepath.Join(d, "index"), []byte(tc.index), 0o644)
			_, err := open(t, d).Latest(ctx, catalog.Query{})
			if !errors.Is(err, catalog.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrCorrupt saying %q", err, tc.want)
			}
			var ce *catalog.CorruptError
			if !errors.As(err, &ce) || ce.Path != filepath.Join(d, "index") {
				t.Errorf("error %v does not name the index file", err)
			}
		})
	}
}

func TestStoreEntryDigestMismatch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	e := catalogtest.NewEntry("base/aws/x86_64/stable", 1, 2)
	if _, err := s.Put(ctx, e); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "entries", "sha256-*.json"))
	if len(files) != 1 {
		t.Fatalf("%d entry files, want 1", len(files))
	}
	b, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], bytes.Replace(b, []byte(`"linux"`), []byte(`"Linux"`), 1), 0o644)
	_, err := s.Get(ctx, e.Ref)
	var de *catalog.DigestError
	if !errors.Is(err, catalog.ErrDigest) || !errors.As(err, &de) || !strings.Contains(err.Error(), files[0]) {
		t.Fatalf("Get of a tampered entry: %v, want a DigestError naming %s", err, files[0])
	}
	os.Remove(files[0])
	if _, err := s.Latest(ctx, catalog.Query{}); !errors.Is(err, catalog.ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Latest with the entry file gone: %v, want ErrCorrupt", err)
	}
}

// helperEnv makes the test binary act as a catalog writer (see
// TestMain): it puts builds from..to of a stream into a directory.
const helperEnv = "HARDVM_CATALOG_WRITER"

// registrarEnv makes the test binary a registration that stops mid-copy
// (see TestMain and TestRegistrarReclaimsDeadCopies).
const registrarEnv = "HARDVM_REGISTRAR_WRITER"

// readerEnv makes the test binary a reader of a catalog directory: it
// prints how many entries it finds, and the newest (see
// TestStoreIndexMissingReadOnly).
const readerEnv = "HARDVM_CATALOG_READER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(readerEnv); dir != "" {
		s, err := local.Open(dir)
		if err == nil {
			var es []catalog.Entry
			if es, err = s.Find(context.Background(), catalog.Query{IncludeDeprecated: true}); err == nil {
				var l catalog.Entry
				l, err = s.Latest(context.Background(), catalog.Query{})
				fmt.Println(len(es), l.Ref.Version)
			}
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv(registrarEnv); spec != "" {
		// dir|artifact path|digest: says "copying" once the copy has
		// started, then never ends it.
		p := strings.Split(spec, "|")
		var once sync.Once
		r, err := local.NewRegistrar(p[0], local.WithProgress(progress.Func(func(_ string, done, _ int64) {
			if done > 0 {
				once.Do(func() { fmt.Println("copying") })
				time.Sleep(time.Hour) // select{} would be a deadlock the runtime reports
			}
		})))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		a := artifact.Artifact{Format: vm.FormatRaw, Path: p[1], Digest: digest.Digest(p[2])}
		_, err = r.Register(context.Background(), a, catalogtest.EntryFor(vm.QEMU, a, 1))
		fmt.Fprintln(os.Stderr, "register returned:", err)
		os.Exit(1)
	}
	if spec := os.Getenv(helperEnv); spec != "" {
		// dir|stream|from|to
		p := strings.Split(spec, "|")
		from, _ := strconv.Atoi(p[2])
		to, _ := strconv.Atoi(p[3])
		s, err := local.Open(p[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for n := from; n < to; n++ {
			if _, err := s.Put(context.Background(), catalogtest.NewEntry(p[1], n, 30)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(n) // the parent learns what is committed
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writer(dir, stream string, from, to int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join([]string{dir, stream, strconv.Itoa(from), strconv.Itoa(to)}, "|"))
	return cmd
}

// Several processes write to one catalog at once; every write lands.
func TestStoreConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	streams := []string{"base/aws/x86_64/stable", "base/aws/x86_64/lts", "nginx/qemu/aarch64/stable", "host/gcp/x86_64/stable"}
	const per = 15
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for _, st := range streams {
		c := writer(dir, st, 0, per)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, c), append(outs, &out)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer %s: %v\n%s", streams[i], err, outs[i])
		}
	}
	s := open(t, dir)
	es, err := s.Find(context.Background(), catalog.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(streams)*per {
		t.Fatalf("%d entries after %d processes wrote %d each", len(es), len(streams), per)
	}
}

// A writer killed at any moment leaves the catalog it found or the one it
// was writing: every build it reported is there, at most one more is, and
// every entry reads back whole. Each round kills the writer once it has
// reported a few commits (so there is something to lose) and while it is
// still writing (it was asked for far more than it can write, and it must
// die of the signal, not exit): 0 < committed < total, checked below.
func TestStoreCrash(t *testing.T) {
	ctx := context.Background()
	const stream = "python/azure/x86_64/lts"
	const total = 1 << 20
	midStream := 0
	for round := range 6 {
		dir := t.TempDir()
		c := writer(dir, stream, 0, total)
		stdout, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		reported := 0
		for reported < 1+round*4 && sc.Scan() {
			reported++
		}
		// A varying pause moves the kill across the steps of a write (no
		// timing is asserted: whatever the moment, the invariant holds).
		time.Sleep(time.Duration(round*700) * time.Microsecond)
		c.Process.Signal(syscall.SIGKILL)
		for sc.Scan() {
			reported++
		}
		werr := c.Wait()
		if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: the writer was not killed while writing: %v", round, werr)
		}
		s := open(t, dir)
		es, err := s.Find(ctx, catalog.Query{})
		if err != nil {
			t.Fatalf("round %d: catalog unreadable after kill: %v", round, err)
		}
		if len(es) < reported || len(es) > reported+1 {
			t.Fatalf("round %d: %d entries, writer reported %d committed", round, len(es), reported)
		}
		if committed := len(es); committed > 0 && committed < total {
			midStream++
		}
		for i, e := range es {
			if want := catalogtest.NewEntry(stream, i, 30); e.Ref != want.Ref || len(e.Packages) != len(want.Packages) {
				t.Fatalf("round %d: entry %d is %s with %d packages, want %s", round, i, e.Ref, len(e.Packages), want.Ref)
			}
		}
		// And the catalog takes writes again.
		if _, err := s.Put(ctx, catalogtest.NewEntry(stream, len(es), 30)); err != nil {
			t.Fatalf("round %d: Put after kill: %v", round, err)
		}
		// The next write removed what the killed one left half-written.
		left, _ := filepath.Glob(filepath.Join(dir, ".index.tmp-*"))
		more, _ := filepath.Glob(filepath.Join(dir, "entries", ".*.tmp-*"))
		if left = append(left, more...); len(left) > 0 {
			t.Fatalf("round %d: left after the next write: %v", round, left)
		}
	}
	if midStream == 0 {
		t.Fatal("no round killed the writer between its first and its last commit")
	}
}
