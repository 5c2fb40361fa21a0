package hardvm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// WithParallelism sets how many platforms [BuildPlatforms] and
// [ReleasePlatforms] build at once (default: the number of CPUs Go uses,
// at most the number of platforms). Each build already spreads its own
// stages over the cores; running two at once fills the time one spends
// waiting for the disk. Parallelism does not change the artifacts: the
// same spec gives the same bytes however many run at once.
func WithParallelism(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: parallelism %d: want at least 1", ErrRelease, n)
		}
		o.parallelism = n
		return nil
	}
}

// PlatformError is the error of one platform's build in [BuildPlatforms]
// and [ReleasePlatforms]: which platform, and why.
type PlatformError struct {
	Platform vm.Cloud
	Err      error
}

func (e *PlatformError) Error() string { return fmt.Sprintf("%s: %v", e.Platform, e.Err) }

// Unwrap returns the build's error.
func (e *PlatformError) Unwrap() error { return e.Err }

// PlatformDir is the directory, inside the output directory, that
// [BuildPlatforms] writes platform p's build into.
func PlatformDir(outDir string, p vm.Cloud) string { return filepath.Join(outDir, string(p)) }

// PlatformSpec returns spec moved to platform p: the same image, with the
// spec's formats that p accepts, or p's default format when it accepts
// none of them (vm.Platform.Accepts); the spec's own platform keeps its
// formats. The result is validated.
func PlatformSpec(spec vm.Spec, p vm.Cloud) (vm.Spec, error) {
	pl, err := vm.LookupPlatform(p)
	if err != nil {
		return vm.Spec{}, err
	}
	s := spec
	s.Platform = p
	if p != spec.Platform {
		s.Formats = nil
		for _, f := range spec.Formats {
			if pl.Accepts(f) {
				s.Formats = append(s.Formats, f)
			}
		}
	}
	if err := s.Validate(); err != nil {
		return vm.Spec{}, err
	}
	return s, nil
}

// BuildPlatforms runs [Build] of spec for each platform (PlatformSpec),
// each into PlatformDir(output directory, platform), at most
// WithParallelism at a time, sharing the package cache and one signer (the
// caller's, or one key generated for the run). The outputs are in the
// platforms' order. Every platform's spec is checked before any build
// starts; a spec that does not hold for a platform fails them all, each
// reported. The first build that fails stops the others (their files are
// written atomically: nothing half-written stays) and starts no more; the
// error joins a *PlatformError for every build that failed on its own.
// The outputs of the builds that finished are returned with it, nil for
// the others.
func BuildPlatforms(ctx context.Context, spec vm.Spec, platforms []vm.Cloud, opts ...Option) ([]*Output, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	plans, err := platformPlans(spec, platforms, o)
	if err != nil {
		return nil, err
	}
	return buildAll(ctx, plans, o.parallelism)
}

// ReleasePlatforms runs [BuildPlatforms], then, once every platform is
// built and verified, publishes each as [Release] does, in the
// platforms' order (WithStore is required). Nothing is published when any
// build failed; a publication that fails stops the ones after it. The
// outputs are in the platforms' order, each with the Entry its
// publication recorded (with the registrars' locations); with an error,
// those published before it.
func ReleasePlatforms(ctx context.Context, spec vm.Spec, platforms []vm.Cloud, opts ...Option) ([]*Output, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.store == nil {
		return nil, stepError("publish", errors.New("no catalog store: give one with WithStore (or use BuildPlatforms)"))
	}
	plans, err := platformPlans(spec, platforms, o)
	if err != nil {
		return nil, err
	}
	outs, err := buildAll(ctx, plans, o.parallelism)
	if err != nil {
		return nil, err
	}
	for i, out := range outs {
		e, err := publish(ctx, o, out.build)
		if err != nil {
			return outs[:i], &PlatformError{Platform: plans[i].spec.Platform, Err: err}
		}
		out.Entry = e
	}
	return outs, nil
}

// platformPlans makes the plan of every platform's build, each with its
// own directory, logger and progress prefix and the run's one signer.
// Every platform is checked; the errors are joined.
func platformPlans(spec vm.Spec, platforms []vm.Cloud, o options) ([]*plan, error) {
	if len(platforms) == 0 {
		return nil, stepError("spec", errors.New("no platforms to build for"))
	}
	for i, p := range platforms {
		if slices.Contains(platforms[:i], p) {
			return nil, stepError("spec", fmt.Errorf("platform %s given twice", p))
		}
	}
	if o.signer == nil {
		s, err := provenance.NewSigner()
		if err != nil {
			return nil, stepError("sign", err)
		}
		o.signer = s
	}
	plans := make([]*plan, len(platforms))
	var errs []error
	for i, p := range platforms {
		s, err := PlatformSpec(spec, p)
		if err != nil {
			errs = append(errs, &PlatformError{Platform: p, Err: stepError("spec", err)})
			continue
		}
		po := o
		po.outDir = PlatformDir(o.outDir, p)
		po.logger = o.logger.With("platform", string(p))
		if o.progress != nil {
			po.progress = prefixProgress{prefix: string(p) + ": ", to: o.progress}
		}
		if plans[i], err = newPlan(s, po); err != nil {
			errs = append(errs, &PlatformError{Platform: p, Err: err})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plans, nil
}

// errStopped is the cause of the cancellation of the builds still running
// when another failed.
var errStopped = errors.New("hardvm: stopped: another platform's build failed")

// buildAll runs the plans, at most n at a time (0: GOMAXPROCS); see
// BuildPlatforms.
func buildAll(parent context.Context, plans []*plan, n int) ([]*Output, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	outs := make([]*Output, len(plans))
	errs := make([]error, len(plans))
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	sem := make(chan struct{}, min(n, len(plans)))
	var wg sync.WaitGroup
	for i, p := range plans {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break // a build failed, or the caller gave up: start no more
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := p.build(ctx)
			if err != nil {
				errs[i] = err
				cancel(errStopped)
				return
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	if err := parent.Err(); err != nil {
		return outs, stepError("build", context.Cause(parent))
	}
	var failed []error
	for i, err := range errs {
		// A build stopped because another failed did not fail itself.
		if err != nil && !errors.Is(err, context.Canceled) {
			failed = append(failed, &PlatformError{Platform: plans[i].spec.Platform, Err: err})
		}
	}
	return outs, errors.Join(failed...)
}

// prefixProgress reports a platform's build to the reporter the caller
// gave, each stage named "<platform>: <stage>".
type prefixProgress struct {
	prefix string
	to     progress.Reporter
}

func (p prefixProgress) Progress(stage string, done, total int64) {
	p.to.Progress(p.prefix+stage, done, total)
}
