package hardvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// ErrRelease is the root of the errors Release returns for a step that
// failed; the step's own error is wrapped with it.
var ErrRelease = errors.New("hardvm: release failed")

// StepError says which step of the pipeline failed.
type StepError struct {
	Step string // resolve, build, assemble, export, sbom, provenance, fips, sign, verify, publish
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("hardvm: %s: %v", e.Step, e.Err) }

// Unwrap returns ErrRelease and the step's error.
func (e *StepError) Unwrap() []error { return []error{ErrRelease, e.Err} }

// Option configures [Release] and [Build].
type Option func(*options) error

type options struct {
	outDir     string
	cacheDir   string
	signer     *provenance.Signer
	policy     *provenance.Policy
	trusted    *provenance.TrustedMaterial
	store      catalog.Store
	registrars []catalog.Registrar
	logger     *slog.Logger
	progress   progress.Reporter
	builderID  string
	compress   bool
}

// WithOutputDir sets the directory the build writes into (default
// "hardvm-out"). Every file is written atomically.
func WithOutputDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return fmt.Errorf("%w: empty output directory", ErrRelease)
		}
		o.outDir = dir
		return nil
	}
}

// WithCacheDir sets the package cache shared by builds (default: a
// "cache" directory inside the output directory).
func WithCacheDir(dir string) Option { return func(o *options) error { o.cacheDir = dir; return nil } }

// WithSigner signs the attestations with s. By default an ephemeral ECDSA
// P-256 key is generated for the run and its public half written as key.pub.
func WithSigner(s *provenance.Signer) Option {
	return func(o *options) error { o.signer = s; return nil }
}

// WithPolicy verifies the build against p before anything is published
// (default: provenance.NewPolicy(), plus RequireFIPS for FIPS specs).
func WithPolicy(p *provenance.Policy) Option {
	return func(o *options) error { o.policy = p; return nil }
}

// WithTrustedMaterial verifies against tm (default: the signer's public key).
func WithTrustedMaterial(tm *provenance.TrustedMaterial) Option {
	return func(o *options) error { o.trusted = tm; return nil }
}

// WithStore records the published entry in s. Without a store, Release
// builds, signs and verifies but publishes nothing.
func WithStore(s catalog.Store) Option { return func(o *options) error { o.store = s; return nil } }

// WithRegistrars registers the image on these targets when publishing.
func WithRegistrars(rs ...catalog.Registrar) Option {
	return func(o *options) error { o.registrars = append(o.registrars, rs...); return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithProgress reports the progress of every long step.
func WithProgress(p progress.Reporter) Option {
	return func(o *options) error { o.progress = p; return nil }
}

// WithBuilderID sets the SLSA builder id recorded in the provenance
// (default provenance.DefaultBuilderID).
func WithBuilderID(id string) Option { return func(o *options) error { o.builderID = id; return nil } }

// WithCompression compresses the formats that can be (qcow2).
func WithCompression(on bool) Option { return func(o *options) error { o.compress = on; return nil } }

// Output is everything a build wrote.
type Output struct {
	Dir         string
	Lock        *artifact.Lock
	Disk        *image.Disk
	Artifacts   []artifact.Artifact // raw first, then the spec's formats
	Attachments []catalog.Attachment
	Kernel      string       // kernel version, "" when the image has no kernel (not bootable)
	FIPS        *fips.Report // with fips: true
	Results     []*provenance.Result
	Entry       catalog.Entry

	verifier dirVerifier // what Publish verifies with
}

// The files a build writes in its output directory, beside the disks
// (disk.raw, disk.qcow2, …): provenance.WriteDir's layout.
const (
	LockFile       = "lock.json"
	SBOMFile       = provenance.SBOMFile       // the SPDX document
	ProvenanceFile = provenance.ProvenanceFile // the SLSA statement
	SBOMBundle     = provenance.SBOMBundle     // the signed SBOM statement
	FIPSFile       = provenance.FIPSReportFile // the FIPS report, for people, with fips: true
	FIPSBundle     = provenance.FIPSBundle     // the signed FIPS report statement
	KeyFile        = provenance.PublicKeyFile  // the public key of a key-signed build
)

// BundleFile returns the name of the signed provenance of an artifact.
func BundleFile(artifact string) string { return artifact + provenance.BundleSuffix }

func applyOptions(opts []Option) (options, error) {
	o := options{outDir: "hardvm-out", logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.cacheDir == "" {
		o.cacheDir = filepath.Join(o.outDir, "cache")
	}
	return o, nil
}

// Release runs the whole pipeline for spec: resolve, build, assemble,
// export every format the spec's platform needs, write the SBOM and SLSA
// provenance (and the FIPS report when the spec asks for FIPS), sign them,
// verify every artifact against the policy, then — with a store — publish
// through the registrars and record the entry in the catalog. Nothing is
// published unless verification passed. The same spec (same lock, same
// SourceDateEpoch) gives the same digests.
func Release(ctx context.Context, spec vm.Spec, opts ...Option) (catalog.Entry, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return catalog.Entry{}, err
	}
	if o.store == nil {
		return catalog.Entry{}, &StepError{Step: "publish", Err: errors.New("no catalog store: give one with WithStore (or use Build)")}
	}
	out, err := build(ctx, spec, o)
	if err != nil {
		return catalog.Entry{}, err
	}
	return out.Entry, nil
}

// Publish publishes what Build produced: it verifies every artifact again
// against the policy the build used, registers the image through the
// registrars and records the entry in the store (WithStore is required).
func Publish(ctx context.Context, out *Output, opts ...Option) (catalog.Entry, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return catalog.Entry{}, err
	}
	if o.store == nil {
		return catalog.Entry{}, &StepError{Step: "publish", Err: errors.New("no catalog store: give one with WithStore")}
	}
	if out == nil || out.verifier.policy == nil {
		return catalog.Entry{}, &StepError{Step: "publish", Err: errors.New("nothing built: Publish takes the Output of Build")}
	}
	e, err := publish(ctx, o, out, out.verifier)
	if err != nil {
		return catalog.Entry{}, &StepError{Step: "publish", Err: err}
	}
	out.Entry = e
	return e, nil
}

// Build runs Release without publishing and returns everything it wrote.
func Build(ctx context.Context, spec vm.Spec, opts ...Option) (*Output, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	o.store = nil
	o.registrars = nil
	return build(ctx, spec, o)
}

func build(ctx context.Context, spec vm.Spec, o options) (*Output, error) {
	step := func(name string, err error) error { return &StepError{Step: name, Err: err} }
	if err := spec.Validate(); err != nil {
		return nil, step("spec", err)
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return nil, step("output", err)
	}
	out := &Output{Dir: o.outDir}
	log := o.logger

	// Resolve and install.
	lock, err := image.Resolve(ctx, spec, image.WithResolveCacheDir(o.cacheDir),
		image.WithResolveLogger(log), image.WithResolveProgress(o.progress))
	if err != nil {
		return nil, step("resolve", err)
	}
	out.Lock = lock
	if err := writeJSON(filepath.Join(o.outDir, LockFile), lock); err != nil {
		return nil, step("resolve", err)
	}
	if err := os.MkdirAll(o.cacheDir, 0o755); err != nil {
		return nil, step("build", err)
	}
	staging, err := os.MkdirTemp(o.cacheDir, "rootfs-")
	if err != nil {
		return nil, step("build", err)
	}
	defer os.RemoveAll(staging)
	root, err := image.Build(ctx, lock, image.WithBuildCacheDir(o.cacheDir), image.WithBuildStagingDir(staging),
		image.WithBuildLogger(log), image.WithBuildProgress(o.progress))
	if err != nil {
		return nil, step("build", err)
	}
	defer root.Close()

	// FIPS: proven from the image's own files.
	if spec.FIPS {
		rep, err := fips.Check(ctx, root)
		out.FIPS = rep
		if err != nil {
			return nil, step("fips", err)
		}
	}

	// Assemble: erofs root, dm-verity, GPT. With a kernel in the image, the
	// ESP gets the UKI, whose command line carries the root hash: Assemble
	// asks for it (ESPFunc) once the hash is known.
	layout := image.Layout{Arch: spec.Arch, Size: spec.DiskSize(), Seed: spec.Ref().Stream(), SourceDateEpoch: spec.SourceDateEpoch}
	rawPath := filepath.Join(o.outDir, "disk"+vm.FormatRaw.Ext())
	aopts := []image.AssembleOption{image.WithAssembleLogger(log), image.WithAssembleProgress(o.progress)}
	if kv, kerr := boot.KernelVersion(root); kerr == nil {
		out.Kernel = kv
		bopts := []boot.Option{boot.WithArch(spec.Arch), boot.WithSourceDateEpoch(spec.SourceDateEpoch),
			boot.WithKernelVersion(kv), boot.WithCmdline(spec.KernelArgs()...)}
		if sb := spec.SecureBoot; sb != nil {
			cert, err := os.ReadFile(sb.DBCert)
			if err != nil {
				return nil, step("boot", fmt.Errorf("secure_boot.db_cert: %w", err))
			}
			key, err := os.ReadFile(sb.DBKey)
			if err != nil {
				return nil, step("boot", fmt.Errorf("secure_boot.db_key: %w", err))
			}
			signer, err := boot.LoadSigner(cert, key)
			if err != nil {
				return nil, step("boot", err)
			}
			bopts = append(bopts, boot.WithSigner(signer))
		}
		layout.ESPFunc = func(ctx context.Context, rootHash string) (map[string][]byte, error) {
			return boot.ESP(ctx, root, rootHash, bopts...)
		}
	} else {
		log.InfoContext(ctx, "no kernel in the image: the disk is not bootable", "reason", kerr)
	}
	disk, err := image.Assemble(ctx, root, layout, rawPath, aopts...)
	if err != nil {
		return nil, step("assemble", err)
	}
	out.Disk = disk

	// Export every format, the raw disk first.
	ref := spec.Ref()
	formats := []vm.DiskFormat{vm.FormatRaw}
	for _, f := range spec.DiskFormats() {
		if f != vm.FormatRaw {
			formats = append(formats, f)
		}
	}
	for _, f := range formats {
		if f == vm.FormatRaw {
			// The assembled disk is the raw artifact: hash it, don't copy it.
			d, err := provenance.FileDigest(disk.Path)
			if err != nil {
				return nil, step("export", err)
			}
			ref.Digest = d
			out.Artifacts = append(out.Artifacts, artifact.Artifact{Ref: ref, Format: vm.FormatRaw, Path: disk.Path,
				Size: disk.Size, VirtualSize: disk.Size, Digest: d, RootHash: disk.RootHash})
			continue
		}
		w, err := vdisk.ForFormat(f, o.compress)
		if err != nil {
			return nil, step("export", err)
		}
		a, err := image.Export(ctx, disk, w, filepath.Join(o.outDir, "disk"+f.Ext()), image.ExportRef(ref), image.ExportProgress(o.progress))
		if err != nil {
			return nil, step("export", err)
		}
		out.Artifacts = append(out.Artifacts, a)
	}
	for i := range out.Artifacts {
		out.Artifacts[i].Ref = ref
	}

	// SBOM, provenance and FIPS report, signed, beside the disks: the
	// layout provenance.VerifyDir and `hardvm verify` read.
	var popts []provenance.Option
	if o.builderID != "" {
		popts = append(popts, provenance.WithBuilderID(o.builderID))
	}
	signer := o.signer
	if signer == nil {
		if signer, err = provenance.NewSigner(); err != nil {
			return nil, step("sign", err)
		}
	}
	if err := provenance.WriteDir(ctx, o.outDir, lock, out.Artifacts, signer, out.FIPS, popts...); err != nil {
		return nil, step("sign", err)
	}
	for _, f := range []struct {
		kind catalog.AttachmentKind
		name string
	}{{catalog.SBOM, SBOMFile}, {catalog.Provenance, ProvenanceFile}, {catalog.Bundle, BundleFile(out.Artifacts[0].Name())}} {
		a, err := attachment(f.kind, filepath.Join(o.outDir, f.name))
		if err != nil {
			return nil, step("sign", err)
		}
		out.Attachments = append(out.Attachments, a)
	}

	// Verify every artifact before anything is published.
	policy := o.policy
	if policy == nil {
		popts := []provenance.PolicyOption{}
		if o.builderID != "" {
			popts = append(popts, provenance.RequireBuilder(o.builderID))
		}
		if spec.FIPS {
			popts = append(popts, provenance.RequireFIPS())
		}
		if policy, err = provenance.NewPolicy(popts...); err != nil {
			return nil, step("verify", err)
		}
	}
	trusted := o.trusted
	if trusted == nil {
		if trusted, err = provenance.TrustKeys(signer.PublicKey()); err != nil {
			return nil, step("verify", err)
		}
	}
	out.Results, err = provenance.VerifyDir(ctx, o.outDir, policy, trusted, provenance.WithRootHashReader(RootHashReader))
	if err != nil {
		return out, step("verify", err)
	}

	out.verifier = dirVerifier{dir: o.outDir, policy: policy, trusted: trusted}
	entry, err := catalog.NewEntry(lock, out.Artifacts, out.Attachments...)
	if err != nil {
		return out, step("catalog", err)
	}
	// entry.Kernel is the kernel package version (NewEntry): what deltas compare.
	out.Entry = entry
	if o.store != nil {
		if out.Entry, err = publish(ctx, o, out, out.verifier); err != nil {
			return out, step("publish", err)
		}
	}
	return out, nil
}

// RootHashReader reads and proves the dm-verity root hash of a raw disk
// (image.ReadRootHashFile) for provenance.VerifyDir; other formats are
// skipped (errors.ErrUnsupported): their root hash is their raw disk's.
func RootHashReader(ctx context.Context, path string) (string, error) {
	if !strings.HasSuffix(path, vm.FormatRaw.Ext()) {
		return "", fmt.Errorf("the root hash is read from the raw disk: %w", errors.ErrUnsupported)
	}
	return image.ReadRootHashFile(ctx, path)
}

func attachment(kind catalog.AttachmentKind, path string) (catalog.Attachment, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return catalog.Attachment{}, err
	}
	d, err := provenance.FileDigest(path)
	if err != nil {
		return catalog.Attachment{}, err
	}
	return catalog.Attachment{Kind: kind, MediaType: kind.DefaultMediaType(), Digest: d, Size: fi.Size(), Path: path}, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, 0o644, append(b, '\n'))
}
