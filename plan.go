package hardvm

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// plan is what a build does, decided once from a validated spec and the
// options before any work starts: every input a step needs is here, read
// and checked (the Secure Boot files are read, the disk writers chosen, the
// signer made). No step reads the spec or the options again; each takes
// what the step before returned. A new build input is a field here, set by
// an Option in newPlan.
type plan struct {
	spec vm.Spec // validated; what image.Resolve turns into the lock
	// ref names the image; its digest, the raw disk's, is added once, when
	// the raw disk is hashed.
	ref      vm.Ref
	dir      string // the build directory (package builddir's layout)
	cacheDir string // packages, and the staging of the root file system
	fips     bool   // prove FIPS from the image's files

	// What resolving and installing take: cache, logger, progress, and
	// the caller's credentials and HTTP client when given.
	resolveOpts []image.ResolveOption
	buildOpts   []image.BuildOption

	layout  image.Layout  // arch, size, seed, epoch; the ESP comes from the boot step
	uki     []boot.Option // UKI inputs: arch, epoch, kernel args, Secure Boot signer
	exports []export      // the raw disk first, then the spec's formats

	signer  *provenance.Signer
	attest  []provenance.Option // what the documents record (builder id)
	policy  *provenance.Policy
	trusted *provenance.TrustedMaterial

	log      *slog.Logger
	progress progress.Reporter
}

// export is one disk format to write, with its writer (nil for the raw
// disk, which is the assembled disk itself).
type export struct {
	format vm.DiskFormat
	writer vdisk.Writer
}

// maxBootFile bounds the Secure Boot certificate and key files read.
const maxBootFile = 1 << 20

// newPlan validates spec and makes the plan of its build under o.
func newPlan(spec vm.Spec, o options) (*plan, error) {
	if err := spec.Validate(); err != nil {
		return nil, stepError("spec", err)
	}
	p := &plan{
		spec:     spec,
		ref:      spec.Ref(),
		dir:      o.outDir,
		cacheDir: o.cacheDir,
		fips:     spec.FIPS,
		log:      o.logger,
		progress: o.progress,
	}
	p.resolveOpts = []image.ResolveOption{image.WithResolveCacheDir(o.cacheDir),
		image.WithResolveLogger(o.logger), image.WithResolveProgress(o.progress)}
	p.buildOpts = []image.BuildOption{image.WithBuildCacheDir(o.cacheDir),
		image.WithBuildLogger(o.logger), image.WithBuildProgress(o.progress)}
	if o.creds != nil {
		p.resolveOpts = append(p.resolveOpts, image.WithResolveCredentials(o.creds))
		p.buildOpts = append(p.buildOpts, image.WithBuildCredentials(o.creds))
	}
	if o.client != nil {
		p.resolveOpts = append(p.resolveOpts, image.WithResolveHTTPClient(o.client))
		p.buildOpts = append(p.buildOpts, image.WithBuildHTTPClient(o.client))
	}
	p.layout = image.Layout{Arch: spec.Arch, Size: spec.DiskSize(), Seed: p.ref.Stream(), SourceDateEpoch: spec.SourceDateEpoch}

	p.uki = []boot.Option{boot.WithArch(spec.Arch), boot.WithSourceDateEpoch(spec.SourceDateEpoch), boot.WithCmdline(spec.KernelArgs()...)}
	if pl, err := vm.LookupPlatform(spec.Platform); err == nil {
		p.uki = append(p.uki, boot.WithPlatform(pl, spec.Drivers...))
	}
	if sb := spec.SecureBoot; sb != nil {
		cert, err := readBootFile("secure_boot.db_cert", sb.DBCert)
		if err != nil {
			return nil, stepError("boot", err)
		}
		key, err := readBootFile("secure_boot.db_key", sb.DBKey)
		if err != nil {
			return nil, stepError("boot", err)
		}
		signer, err := boot.LoadSigner(cert, key)
		if err != nil {
			return nil, stepError("boot", err)
		}
		p.uki = append(p.uki, boot.WithSigner(signer))
	}

	p.exports = []export{{format: vm.FormatRaw}}
	for _, f := range spec.DiskFormats() {
		if f == vm.FormatRaw {
			continue
		}
		w, err := vdisk.ForFormat(f, o.compress)
		if err != nil {
			return nil, stepError("export", err)
		}
		p.exports = append(p.exports, export{format: f, writer: w})
	}

	if o.builderID != "" {
		p.attest = append(p.attest, provenance.WithBuilderID(o.builderID))
	}
	p.signer = o.signer
	if p.signer == nil {
		var err error
		if p.signer, err = provenance.NewSigner(); err != nil {
			return nil, stepError("sign", err)
		}
	}
	o.signer = p.signer
	var err error
	if p.policy, p.trusted, err = verification(o, spec.FIPS); err != nil {
		return nil, stepError("verify", err)
	}
	return p, nil
}

// readBootFile reads a Secure Boot file the spec names, bounded.
func readBootFile(field, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBootFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(b) > maxBootFile {
		return nil, fmt.Errorf("%s: %s is over %d bytes", field, path, maxBootFile)
	}
	return b, nil
}
