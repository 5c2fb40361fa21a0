package hardvm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/provenance"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// build runs the plan: each step takes what the one before returned.
func (p *plan) build(ctx context.Context) (*Output, error) {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, stepError("output", err)
	}
	// Half-written files of a build that was killed (kill -9) are taken
	// back; a live build's, held under a lock, are left alone.
	removed, err := atomicfile.Reclaim(p.dir)
	if err != nil {
		return nil, stepError("output", err)
	}
	if len(removed) > 0 {
		p.log.InfoContext(ctx, "removed the half-written files of a build that died", "dir", p.dir, "files", removed)
	}
	t := time.Now()
	lock, err := p.resolve(ctx)
	if err != nil {
		return nil, err
	}
	t = p.took(ctx, "resolve", t)
	root, cleanup, err := p.install(ctx, lock)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	t = p.took(ctx, "install", t)
	report, err := p.checkFIPS(ctx, root)
	if err != nil {
		return nil, err
	}
	kernel, layout, err := p.boot(ctx, root)
	if err != nil {
		return nil, err
	}
	disk, err := p.assemble(ctx, root, layout)
	if err != nil {
		return nil, err
	}
	t = p.took(ctx, "assemble", t)
	arts, err := p.export(ctx, disk)
	if err != nil {
		return nil, err
	}
	t = p.took(ctx, "export", t)
	c := builddir.Contents{Lock: lock, Artifacts: arts, Kernel: kernel, FIPS: report}
	if err := builddir.Write(ctx, p.dir, c, p.signer, p.attest...); err != nil {
		return nil, stepError("sign", err)
	}
	t = p.took(ctx, "sign", t)
	out, err := p.verify(ctx, disk, arts)
	p.took(ctx, "verify", t)
	return out, err
}

// took logs, at debug level, how long step took since start, and returns
// the time now: where a build's time goes, without a profiler.
func (p *plan) took(ctx context.Context, step string, start time.Time) time.Time {
	now := time.Now()
	p.log.DebugContext(ctx, "hardvm: step done", "step", step, "took", now.Sub(start).Round(time.Millisecond))
	return now
}

// resolve turns the spec into the lock.
func (p *plan) resolve(ctx context.Context) (*artifact.Lock, error) {
	lock, err := image.Resolve(ctx, p.spec, p.resolveOpts...)
	if err != nil {
		return nil, stepError("resolve", err)
	}
	return lock, nil
}

// install installs the lock into a root file system staged in the cache
// directory (cache/rootfs-*, which the tree holds under a lock and whose
// dead siblings it reclaims); cleanup closes it, removing the staging.
func (p *plan) install(ctx context.Context, lock *artifact.Lock) (*image.Rootfs, func(), error) {
	root, err := image.Build(ctx, lock, append(p.buildOpts, image.WithBuildStagingDir(p.cacheDir))...)
	if err != nil {
		return nil, nil, stepError("build", err)
	}
	return root, func() { root.Close() }, nil
}

// checkFIPS proves FIPS from the image's own files, when the spec asks for
// it; otherwise it returns no report.
func (p *plan) checkFIPS(ctx context.Context, root *image.Rootfs) (*fips.Report, error) {
	if !p.fips {
		return nil, nil
	}
	rep, err := fips.Check(ctx, root)
	if err != nil {
		return rep, stepError("fips", err)
	}
	return rep, nil
}

// boot finds the image's kernel and returns its version with the disk
// layout: with a kernel, the ESP gets the UKI, whose command line carries
// the root hash, so Assemble asks for it (ESPFunc) once the hash is known.
// Without one the disk does not boot, and the version is "", unless the
// spec asks for Secure Boot: then there is nothing to sign, and the build
// stops before the disk is written (ErrNotBootable).
func (p *plan) boot(ctx context.Context, root *image.Rootfs) (string, image.Layout, error) {
	layout := p.layout
	kv, err := boot.KernelVersion(root)
	if err != nil {
		if p.spec.SecureBoot != nil {
			return "", layout, stepError("boot", fmt.Errorf("%w: secure_boot is set but the image has no kernel to sign: %w", ErrNotBootable, err))
		}
		p.log.InfoContext(ctx, "no kernel in the image: the disk is not bootable", "reason", err)
		return "", layout, nil
	}
	opts := append(slices.Clone(p.uki), boot.WithKernelVersion(kv))
	layout.ESPFunc = func(ctx context.Context, rootHash string) (map[string][]byte, error) {
		return boot.ESP(ctx, root, rootHash, opts...)
	}
	return kv, layout, nil
}

// assemble writes the raw disk: erofs root, dm-verity, GPT, ESP.
func (p *plan) assemble(ctx context.Context, root *image.Rootfs, layout image.Layout) (*image.Disk, error) {
	disk, err := image.Assemble(ctx, root, layout, filepath.Join(p.dir, builddir.DiskFile(p.exports[0].format)),
		image.WithAssembleLogger(p.log), image.WithAssembleProgress(p.progress))
	if err != nil {
		return nil, stepError("assemble", err)
	}
	return disk, nil
}

// export returns the artifacts of every format, the raw disk first: the
// assembled disk itself, hashed (not copied) while the other formats are
// written, on a core of its own; the ref, with the raw disk's digest, is
// made once, here, and every artifact carries it.
func (p *plan) export(ctx context.Context, disk *image.Disk) ([]artifact.Artifact, error) {
	g, gctx := errgroup.WithContext(ctx)
	var d digest.Digest
	g.Go(func() error {
		var err error
		start := time.Now()
		d, err = provenance.FileDigestContext(gctx, disk.Path)
		p.took(ctx, "hash raw disk", start)
		return err
	})
	arts := []artifact.Artifact{{Format: p.exports[0].format, Path: disk.Path,
		Size: disk.Size, VirtualSize: disk.Size, RootHash: disk.RootHash}}
	for _, e := range p.exports[1:] {
		a, err := image.Export(gctx, disk, e.writer, filepath.Join(p.dir, builddir.DiskFile(e.format)),
			image.ExportProgress(p.progress))
		if err != nil {
			// The digest's failure, if it failed first, is the cause.
			if derr := g.Wait(); derr != nil && ctx.Err() == nil {
				err = derr
			}
			return nil, stepError("export", err)
		}
		arts = append(arts, a)
	}
	if err := g.Wait(); err != nil {
		return nil, stepError("export", err)
	}
	ref := p.ref
	ref.Digest = d
	arts[0].Digest = d
	for i := range arts {
		arts[i].Ref = ref
	}
	return arts, nil
}

// verify opens the directory as Publish will, verifying every disk, and
// returns what it holds. The disks the build has just written and hashed
// are verified against those digests, not read again (Publish, which
// takes the directory from anywhere, reads them). On a failed verification
// the Output carries the results.
func (p *plan) verify(ctx context.Context, disk *image.Disk, written []artifact.Artifact) (*Output, error) {
	b, err := builddir.Open(ctx, p.dir, p.policy, p.trusted, builddir.WithRootHashReader(RootHashReader), builddir.WithWrittenDisks(written...))
	out := &Output{Dir: p.dir, Disk: disk}
	if b != nil {
		out.Results = b.Results
	}
	if err != nil {
		return out, stepError("verify", err)
	}
	entry, err := b.Entry()
	if err != nil {
		return out, stepError("catalog", err)
	}
	out.Lock, out.Artifacts, out.Attachments = b.Lock, b.Artifacts, b.Attachments
	out.Kernel, out.FIPS, out.Entry, out.build = b.Kernel, b.FIPS, entry, b
	return out, nil
}
