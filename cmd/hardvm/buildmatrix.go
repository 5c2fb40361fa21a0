package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// A matrix build (hardvm build --platform P --arch A ...) builds one spec
// for several platforms and architectures in one command, as Packer builds
// several sources: each (platform, arch) into OUT/<platform>-<arch>/, a
// build directory of its own that 'hardvm publish' takes as it is.
//
// The builds share one package cache (OUT/cache or --cache). That is safe
// in one process as across processes: the fetcher writes cache files
// through internal/atomicfile (a temporary held under flock(2), renamed
// into place), staging directories are reclaim.TempDir's, and reclaim only
// takes a temporary whose lock it can get without waiting; flock locks
// belong to open file descriptions, so a build's own live temporaries are
// locked against its sibling builds in the same process too.

// matrixTarget is one (platform, arch) of a matrix build.
type matrixTarget struct {
	Platform vm.Cloud
	Arch     vm.Arch
	spec     vm.Spec
}

// name is the target's directory name and progress prefix.
func (t matrixTarget) name() string { return string(t.Platform) + "-" + string(t.Arch) }

// matrixTargets checks the platforms and architectures asked for (the
// spec's own where none is given) and derives one spec per combination;
// every problem is a usage error, found before any build starts. A spec
// moved to another platform keeps the formats of its formats: list that
// platform accepts, or takes the platform's default.
func matrixTargets(specPath string, base *vm.Spec, platforms, arches []string) ([]matrixTarget, error) {
	ps := []vm.Cloud{base.Platform}
	if len(platforms) > 0 {
		ps = nil
		for _, p := range platforms {
			c := vm.Cloud(strings.TrimSpace(p))
			if _, err := vm.LookupPlatform(c); err != nil {
				return nil, usagef("--platform %q: unknown platform (one of %s)", p, strings.Join(toStrings(vm.Clouds()), ", "))
			}
			if !slices.Contains(ps, c) {
				ps = append(ps, c)
			}
		}
	}
	as := []vm.Arch{base.Arch}
	if len(arches) > 0 {
		as = nil
		for _, s := range arches {
			a, err := vm.ParseArch(strings.TrimSpace(s))
			if err != nil {
				return nil, usagef("--arch %q: unknown architecture (one of %s)", s, strings.Join(toStrings(vm.Arches()), ", "))
			}
			if !slices.Contains(as, a) {
				as = append(as, a)
			}
		}
	}
	var targets []matrixTarget
	for _, p := range ps {
		platform, _ := vm.LookupPlatform(p)
		for _, a := range as {
			t := matrixTarget{Platform: p, Arch: a, spec: *base}
			t.spec.Platform, t.spec.Arch = p, a
			if p != base.Platform {
				t.spec.Formats = nil
				for _, f := range base.Formats {
					if platform.Accepts(f) {
						t.spec.Formats = append(t.spec.Formats, f)
					}
				}
			}
			if err := t.spec.Validate(); err != nil {
				return nil, usageError{fmt.Errorf("%s for %s: %w", specPath, t.name(), specError(specPath, err))}
			}
			targets = append(targets, t)
		}
	}
	return targets, nil
}

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// matrixResult is one build of a matrix: its output, or why it failed.
type matrixResult struct {
	target matrixTarget
	dir    string
	out    *hardvm.Output
	err    error
}

// prefixReporter reports a build's progress to a view shared by the
// matrix, each stage named "<platform>-<arch>: <stage>".
type prefixReporter struct {
	prefix string
	to     progress.Reporter
}

func (p prefixReporter) Progress(stage string, done, total int64) {
	p.to.Progress(p.prefix+": "+stage, done, total)
}

// matrixConfig is what every build of a matrix shares.
type matrixConfig struct {
	specPath, outDir, cacheDir, keyPath string
	compress, verbose                   bool
	parallel                            int
}

// runMatrix runs the targets' builds, at most cfg.parallel at a time, each
// to the end whatever the others do; a cancelled ctx (Ctrl-C) stops them
// all and starts no more. The results are in the targets' order.
func runMatrix(ctx context.Context, targets []matrixTarget, cfg matrixConfig, view progress.Reporter, logTo io.Writer) []matrixResult {
	results := make([]matrixResult, len(targets))
	sem := make(chan struct{}, cfg.parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		results[i] = matrixResult{target: t, dir: filepath.Join(cfg.outDir, t.name())}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i].err = fmt.Errorf("not started: %w", ctx.Err())
			continue
		}
		wg.Add(1)
		go func(r *matrixResult) {
			defer func() { <-sem; wg.Done() }()
			if err := ctx.Err(); err != nil {
				r.err = fmt.Errorf("not started: %w", err)
				return
			}
			opts := []hardvm.Option{hardvm.WithOutputDir(r.dir), hardvm.WithCompression(cfg.compress),
				hardvm.WithCacheDir(cfg.cacheDir), hardvm.WithProgress(prefixReporter{r.target.name(), view})}
			if cfg.keyPath != "" {
				signer, err := provenance.NewSigner(provenance.WithKeyFile(cfg.keyPath))
				if err != nil {
					r.err = err
					return
				}
				opts = append(opts, hardvm.WithSigner(signer))
			}
			if cfg.verbose {
				opts = append(opts, hardvm.WithLogger(slog.New(slog.NewTextHandler(logTo, nil)).With("build", r.target.name())))
			}
			r.out, r.err = hardvm.Build(ctx, r.target.spec, opts...)
			if r.err != nil {
				r.err = buildError(cfg.specPath, r.dir, r.err)
			}
		}(&results[i])
	}
	wg.Wait()
	return results
}

// failedCount is the number of results with an error.
func failedCount(rs []matrixResult) int {
	n := 0
	for _, r := range rs {
		if r.err != nil {
			n++
		}
	}
	return n
}

// matrixError is the command's error when builds failed: their errors
// were printed with the summary.
func matrixError(rs []matrixResult) error {
	if n := failedCount(rs); n > 0 {
		return fmt.Errorf("%d of %d builds failed", n, len(rs))
	}
	return nil
}

// printMatrix prints one row per build, then each failure's error.
func printMatrix(w io.Writer, rs []matrixResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BUILD\tSTATUS\tIMAGE\tDIR")
	for _, r := range rs {
		status, ref := "ok", "-"
		if r.err != nil {
			status = "FAILED"
		} else {
			ref = r.out.Entry.Ref.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.target.name(), status, ref, r.dir)
	}
	tw.Flush()
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(w, "\n%s: %v\n", r.target.name(), r.err)
		}
	}
	if n := len(rs) - failedCount(rs); n > 0 {
		fmt.Fprintf(w, "\n%d built, signed and verified; check one again with: hardvm verify --key DIR/key.pub DIR\n", n)
	}
}

// matrixJSON is the --json summary: every build, failed or not, with the
// same object a single build prints under "result".
func matrixJSON(rs []matrixResult) any {
	type build struct {
		Name     string   `json:"name"`
		Platform vm.Cloud `json:"platform"`
		Arch     vm.Arch  `json:"arch"`
		Dir      string   `json:"dir"`
		OK       bool     `json:"ok"`
		Error    string   `json:"error,omitempty"`
		Result   any      `json:"result,omitempty"`
	}
	out := struct {
		Builds    []build `json:"builds"`
		Succeeded int     `json:"succeeded"`
		Failed    int     `json:"failed"`
	}{Builds: []build{}}
	for _, r := range rs {
		b := build{Name: r.target.name(), Platform: r.target.Platform, Arch: r.target.Arch, Dir: r.dir, OK: r.err == nil}
		if r.err != nil {
			b.Error = r.err.Error()
			out.Failed++
		} else {
			spec := r.target.spec
			b.Result = buildJSON(&spec, r.out)
			out.Succeeded++
		}
		out.Builds = append(out.Builds, b)
	}
	return out
}
