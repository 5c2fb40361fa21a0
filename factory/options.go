package factory

import (
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hardvm/hardvm/catalog"
)

// Option configures [Check], [NewFactory] and [NewWorker].
type Option func(*options) error

type options struct {
	cacheDir    string
	client      *http.Client
	logger      *slog.Logger
	fixes       catalog.FixIndex
	concurrency int
	id          string
	state       indexState // where Check keeps indexes; set by a Factory
}

func applyOptions(opts []Option) (options, error) {
	o := options{logger: slog.New(slog.DiscardHandler), concurrency: 4}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithCacheDir keeps the repositories' indexes in dir with their ETags
// and Last-Modified times, so that checking an unchanged repository costs
// one conditional request per (repository, arch), answered 304 (a
// [Factory] keeps them in JetStream instead, shared by the factories of a
// cluster). Without it every check fetches every index whole, once. A
// [Worker] keeps its package and index cache there.
func WithCacheDir(dir string) Option {
	return func(o *options) error { o.cacheDir = dir; return nil }
}

// WithHTTPClient sets the HTTP client for http(s) repositories.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("factory: nil HTTP client")
		}
		o.client = c
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("factory: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithFixes names the security fixes of upgrades in deltas and orders
// fleet replacements by them; a *secdb.DB (see [LoadSecurityDatabases]) is
// one.
func WithFixes(f catalog.FixIndex) Option {
	return func(o *options) error { o.fixes = f; return nil }
}

// WithConcurrency sets how many streams are resolved at once (default 4).
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("factory: concurrency must be at least 1")
		}
		o.concurrency = n
		return nil
	}
}

// WithID names the factory or worker in the lease, results and dead
// letters (default: host name and process id).
func WithID(id string) Option {
	return func(o *options) error {
		if id == "" {
			return errors.New("factory: empty id")
		}
		o.id = id
		return nil
	}
}

// identity returns o's id or the default, host name and process id.
func (o *options) identity() string {
	if o.id != "" {
		return o.id
	}
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// indexState returns where Check keeps indexes between checks: the
// factory's JetStream, else the cache directory, else nowhere.
func (o *options) indexState() indexState {
	switch {
	case o.state != nil:
		return o.state
	case o.cacheDir != "":
		return dirState{dir: filepath.Join(o.cacheDir, "factory-index")}
	}
	return nil
}
