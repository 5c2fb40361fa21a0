package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/factory"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
)

// loadSpecs reads the stream specs named on the command line.
func loadSpecs(paths []string) ([]vm.Spec, error) {
	if len(paths) == 0 {
		return nil, usagef("name the streams' spec files (SPEC.yaml...)")
	}
	var specs []vm.Spec
	for _, p := range paths {
		s, err := vm.LoadSpec(p)
		if err != nil {
			return nil, specError(p, err)
		}
		specs = append(specs, *s)
	}
	return specs, nil
}

// factoryOptions returns the factory options of the common flags: the
// index cache, the security databases, a logger.
func factoryOptions(ctx context.Context, e *env, cache string, secdbs []string, verbose bool) ([]factory.Option, error) {
	opts := []factory.Option{}
	if verbose {
		opts = append(opts, factory.WithLogger(slog.New(slog.NewTextHandler(e.stderr, nil))))
	}
	if cache != "" {
		opts = append(opts, factory.WithCacheDir(cache))
	}
	if len(secdbs) > 0 {
		db, err := factory.LoadSecurityDatabases(ctx, secdbs, opts...)
		if err != nil {
			return nil, err
		}
		opts = append(opts, factory.WithFixes(db))
	}
	return opts, nil
}

// newCatalogStaleCmd is 'hardvm catalog stale'.
func newCatalogStaleCmd(e *env) *cobra.Command {
	return leaf(e, "catalog stale", "the streams whose lock would change, with their deltas and the CVEs fixed",
		"catalog stale --catalog PATH|oci://HOST/REPO [--secdb URL]... [--cache DIR] [--json] SPEC.yaml...",
		"hardvm catalog stale --catalog ~/.hardvm/catalog --secdb https://packages.wolfi.dev/os/security.json streams/*.yaml", func(fs *pflag.FlagSet) runFunc {
			cat := fs.String("catalog", "", "the catalog: a directory or oci://HOST/REPO (required)")
			insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
			cache := fs.String("cache", "", "index cache: unchanged repositories then cost one conditional request")
			var secdbs multiFlag
			fs.Var(&secdbs, "secdb", "a security database (Alpine/Wolfi secdb JSON, file or URL) naming the CVEs upgrades fix; repeatable")
			asJSON := fs.Bool("json", false, "print JSON")
			verbose := fs.BoolP("verbose", "v", false, "log to stderr")
			return func(ctx context.Context, args []string) error {
				specs, err := loadSpecs(args)
				if err != nil {
					return err
				}
				store, err := openCatalog(*cat, *insecure)
				if err != nil {
					return err
				}
				defer closeCatalog(store)
				opts, err := factoryOptions(ctx, e, *cache, secdbs, *verbose)
				if err != nil {
					return err
				}
				stale, err := factory.Check(ctx, store, specs, opts...)
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSONOut(e.stdout, stale)
				}
				return writeStale(e.stdout, stale, len(specs))
			}
		})
}

func writeStale(w io.Writer, stale []factory.Stale, streams int) error {
	fmt.Fprintf(w, "%d of %d streams stale\n", len(stale), streams)
	if len(stale) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tFROM\tNEXT\tDELTA")
	for _, s := range stale {
		from := "-"
		if s.Latest != nil {
			from = s.Latest.Version.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Stream, from, s.Spec.Ref().Version, s.Delta.Summary())
	}
	return tw.Flush()
}

// natsFlags are the flags that say where JetStream is: a NATS URL, or
// a server embedded in this process storing in a directory.
type natsFlags struct {
	url, dir, listen *string
}

func addNATSFlags(fs interface {
	String(string, string, string) *string
}, listen bool) natsFlags {
	f := natsFlags{
		url: fs.String("nats", "", "NATS URL of a JetStream server or cluster (default: a server embedded in this process)"),
		dir: fs.String("nats-dir", "", "where the embedded server stores its streams (default: OUT/nats)"),
	}
	if listen {
		f.listen = fs.String("listen", "", "let workers in other processes connect to the embedded server at this address, e.g. 127.0.0.1:4222")
	}
	return f
}

// redactNATS returns the NATS server list urls (comma-separated) for
// messages: each URL's user information, a user and password or a token
// given as the user, is replaced by "redacted".
func redactNATS(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		switch {
		case err != nil && strings.Contains(p, "@"):
			parts[i] = "(a URL with credentials)"
		case err == nil && u.User != nil:
			u.User = url.User("redacted")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// connect returns a connection to JetStream and a function that closes
// it (and the embedded server, if one was started).
func (f natsFlags) connect(defaultDir string) (*nats.Conn, func(), error) {
	if *f.url != "" {
		// A cluster's node may stop: reconnect to another, for as long
		// as it takes (the worker retries meanwhile).
		nc, err := nats.Connect(*f.url, nats.Name("hardvm"), nats.MaxReconnects(-1))
		if err != nil {
			return nil, nil, fmt.Errorf("--nats %s: %w", redactNATS(*f.url), err)
		}
		return nc, nc.Close, nil
	}
	dir := *f.dir
	if dir == "" {
		dir = defaultDir
	}
	if dir == "" {
		return nil, nil, usagef("--nats URL or --nats-dir DIR is required")
	}
	listen := ""
	if f.listen != nil {
		listen = *f.listen
	}
	srv, err := factory.StartServer(dir, listen)
	if err != nil {
		return nil, nil, err
	}
	nc, err := factory.Connect(srv, "hardvm")
	if err != nil {
		stopServer(srv)
		return nil, nil, err
	}
	return nc, func() { nc.Close(); stopServer(srv) }, nil
}

func stopServer(s *server.Server) { s.Shutdown(); s.WaitForShutdown() }

// workerFlags are the flags of a worker's builds.
type workerFlags struct {
	cat, out, key, cache *string
	insecure, unbootable *bool
}

func addWorkerFlags(fs interface {
	String(string, string, string) *string
	Bool(string, bool, string) *bool
}) workerFlags {
	return workerFlags{
		cat:        fs.String("catalog", "", "the catalog: a directory or oci://HOST/REPO (required)"),
		out:        fs.String("out", "", "directory builds are written into, OUT/STREAM/VERSION (required)"),
		key:        fs.String("key", "", "PEM private key that signs the attestations (default: a key generated for the run)"),
		cache:      fs.String("cache", "", "package and index cache (default: OUT/cache)"),
		insecure:   fs.Bool("insecure", false, "talk plain HTTP to the registry"),
		unbootable: fs.Bool("not-bootable-unsafe", false, "publish images without a kernel (demo repositories)"),
	}
}

// worker makes a worker on q from the flags.
func (f workerFlags) worker(q *factory.Queue, store catalog.Store, opts []factory.Option, fopts ...factory.WorkerOption) (*factory.Worker, error) {
	ho := []hardvm.Option{hardvm.WithStore(store), hardvm.WithCacheDir(f.cacheDir())}
	if *f.key != "" {
		signer, err := provenance.NewSigner(provenance.WithKeyFile(*f.key))
		if err != nil {
			return nil, fmt.Errorf("--key %s: %w", *f.key, err)
		}
		ho = append(ho, hardvm.WithSigner(signer))
	}
	if *f.unbootable {
		ho = append(ho, hardvm.PublishNotBootableUnsafe())
	}
	return factory.NewWorker(q, store, factory.ReleaseFunc(*f.out, ho...), opts, fopts...)
}

func (f workerFlags) cacheDir() string {
	if *f.cache != "" {
		return *f.cache
	}
	return filepath.Join(*f.out, "cache")
}

func init() {
	addCommand(func(e *env) *cobra.Command {
		c := newFactoryCmd(e)
		c.AddCommand(newFactoryStatusCmd(e))
		return c
	})
	addCommand(newWorkerCmd)
}

// newFactoryCmd is 'hardvm factory'.
func newFactoryCmd(e *env) *cobra.Command {
	return leaf(e, "factory", "rebuild exactly the stale streams, on an embedded or external NATS JetStream",
		"factory --catalog C --out DIR [--nats URL | --nats-dir DIR [--listen ADDR]] [--workers N] [--interval D] [--once] [--secdb URL]... SPEC.yaml...",
		"hardvm factory --catalog ~/.hardvm/catalog --out /var/lib/hardvm --secdb https://packages.wolfi.dev/os/security.json streams/*.yaml", func(fs *pflag.FlagSet) runFunc {
			wf := addWorkerFlags(fs)
			nf := addNATSFlags(fs, true)
			workers := fs.Int("workers", 1, "workers in this process (0: only schedule; workers run elsewhere with 'hardvm worker')")
			interval := fs.Duration("interval", 5*time.Minute, "how often the repositories are polled")
			once := fs.Bool("once", false, "poll once, wait until the queue is empty, and exit")
			var secdbs multiFlag
			fs.Var(&secdbs, "secdb", "a security database (secdb JSON, file or URL); repeatable")
			verbose := fs.BoolP("verbose", "v", false, "log to stderr")
			return func(ctx context.Context, args []string) error {
				if *wf.out == "" {
					return usagef("--out is required")
				}
				if *workers < 0 || *interval <= 0 {
					return usagef("--workers must be at least 0 and --interval positive")
				}
				specs, err := loadSpecs(args)
				if err != nil {
					return err
				}
				store, err := openCatalog(*wf.cat, *wf.insecure)
				if err != nil {
					return err
				}
				defer closeCatalog(store)
				opts, err := factoryOptions(ctx, e, filepath.Join(wf.cacheDir(), "factory"), secdbs, *verbose)
				if err != nil {
					return err
				}
				nc, closeNATS, err := nf.connect(filepath.Join(*wf.out, "nats"))
				if err != nil {
					return err
				}
				defer closeNATS()
				q, err := factory.OpenQueue(ctx, nc)
				if err != nil {
					return err
				}
				f, err := factory.NewFactory(q, store, specs, opts...)
				if err != nil {
					return err
				}
				if *once {
					if err := f.AcquireLease(ctx, time.Hour); err != nil {
						return err
					}
					stale, n, err := f.Poll(ctx)
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "%d stale streams, %d new jobs\n", len(stale), n)
					if *workers == 0 {
						return nil
					}
					w, err := wf.worker(q, store, opts)
					if err != nil {
						return err
					}
					for {
						res, err := w.RunOnce(ctx, 3*time.Second)
						if errors.Is(err, errNoJob) {
							return writeStatus(ctx, e.stdout, q)
						}
						if err != nil {
							return err
						}
						if res != nil {
							fmt.Fprintf(e.stdout, "%s: %s %v\n", res.Stream, res.Outcome, refString(res.Ref))
						}
					}
				}
				g, gctx := errgroup.WithContext(ctx)
				g.Go(func() error { return f.Run(gctx, *interval) })
				for range *workers {
					w, err := wf.worker(q, store, opts)
					if err != nil {
						return err
					}
					g.Go(func() error { return w.Run(gctx) })
				}
				return g.Wait()
			}
		})
}

func refString(r *vm.Ref) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// newWorkerCmd is 'hardvm worker'.
func newWorkerCmd(e *env) *cobra.Command {
	return leaf(e, "worker", "build, publish and deprecate the factory's jobs from NATS JetStream",
		"worker --nats URL --catalog C --out DIR [--key KEY.pem] [--cache DIR]",
		"hardvm worker --nats nats://factory.internal:4222 --catalog oci://registry.internal/hardvm --out /var/lib/hardvm", func(fs *pflag.FlagSet) runFunc {
			wf := addWorkerFlags(fs)
			nf := addNATSFlags(fs, false)
			verbose := fs.BoolP("verbose", "v", false, "log to stderr")
			return func(ctx context.Context, args []string) error {
				switch {
				case *wf.out == "":
					return usagef("--out is required")
				case *nf.url == "":
					return usagef("--nats is required: a worker joins the factory's JetStream")
				case len(args) > 0:
					return usagef("unexpected arguments %v", args)
				}
				store, err := openCatalog(*wf.cat, *wf.insecure)
				if err != nil {
					return err
				}
				defer closeCatalog(store)
				nc, closeNATS, err := nf.connect("")
				if err != nil {
					return err
				}
				defer closeNATS()
				q, err := factory.OpenQueue(ctx, nc)
				if err != nil {
					return err
				}
				opts, err := factoryOptions(ctx, e, filepath.Join(wf.cacheDir(), "factory"), nil, *verbose)
				if err != nil {
					return err
				}
				w, err := wf.worker(q, store, opts)
				if err != nil {
					return err
				}
				return w.Run(ctx)
			}
		})
}

// newFactoryStatusCmd is 'hardvm factory status'.
func newFactoryStatusCmd(e *env) *cobra.Command {
	return leaf(e, "factory status", "the factory's queue: jobs queued, running, done and dead per stream",
		"factory status --nats URL | --nats-dir DIR [--json]",
		"hardvm factory status --nats nats://factory.internal:4222", func(fs *pflag.FlagSet) runFunc {
			nf := addNATSFlags(fs, false)
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return usagef("unexpected arguments %v", args)
				}
				nc, closeNATS, err := nf.connect("")
				if err != nil {
					return err
				}
				defer closeNATS()
				q, err := factory.OpenQueue(ctx, nc)
				if err != nil {
					return err
				}
				if *asJSON {
					st, err := q.Status(ctx)
					if err != nil {
						return err
					}
					return writeJSONOut(e.stdout, st)
				}
				return writeStatus(ctx, e.stdout, q)
			}
		})
}

func writeStatus(ctx context.Context, w io.Writer, q *factory.Queue) error {
	st, err := q.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tQUEUED\tRUNNING\tDONE\tDEAD\tLAST")
	for _, s := range st {
		last := "-"
		if s.Last != nil {
			last = s.Last.Outcome + " " + refString(s.Last.Ref)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\n", s.Stream, s.Queued, orDash(s.Running), s.Done, s.Dead, last)
	}
	return tw.Flush()
}

// errNoJob is what RunOnce returns when the queue had nothing.
var errNoJob = jetstream.ErrNoMessages
