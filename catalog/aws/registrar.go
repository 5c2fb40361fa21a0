package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// Registrar publishes raw disks as AMIs. It implements catalog.Registrar,
// catalog.FormatAccepter and catalog.Deprecator.
type Registrar struct {
	region string
	ebs    EBSAPI
	ec2    EC2API
	o      options
}

// Option configures a Registrar.
type Option func(*options) error

type options struct {
	copyRegions []string
	accounts    []string
	uefiData    string
	workers     int
	poll        time.Duration
	logger      *slog.Logger
	progress    progress.Reporter
	clients     func(region string) EC2API
	s3          S3API
	bucket      string
}

// WithCopyRegions copies each registered AMI to these regions too.
func WithCopyRegions(regions ...string) Option {
	return func(o *options) error {
		for _, r := range regions {
			if !regionRe.MatchString(r) {
				return fmt.Errorf("%w: region %q", ErrConfig, r)
			}
		}
		o.copyRegions = append(o.copyRegions, regions...)
		return nil
	}
}

// WithShareAccounts grants launch permission to these AWS account ids.
func WithShareAccounts(ids ...string) Option {
	return func(o *options) error {
		for _, id := range ids {
			if len(id) != 12 || strings.Trim(id, "0123456789") != "" {
				return fmt.Errorf("%w: account id %q (want 12 digits)", ErrConfig, id)
			}
		}
		o.accounts = append(o.accounts, ids...)
		return nil
	}
}

// WithUEFIData registers the AMI with this UEFI variable store (base64,
// as `python3 uefivars.py -o aws` writes it) holding the Secure Boot keys.
func WithUEFIData(b64 string) Option {
	return func(o *options) error { o.uefiData = b64; return nil }
}

// WithWorkers sets how many blocks are uploaded at once (default 16).
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 256 {
			return fmt.Errorf("%w: workers %d outside 1..256", ErrConfig, n)
		}
		o.workers = n
		return nil
	}
}

// WithPollInterval sets how often snapshot and image states are polled
// (default 5s).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error { o.poll = d; return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithProgress reports upload progress, stage "aws upload <file name>", in
// bytes of the artifact (holes that are not sent count as done).
func WithProgress(r progress.Reporter) Option {
	return func(o *options) error { o.progress = r; return nil }
}

// WithRegionClients supplies the EC2 client of another region, for copies;
// by default it is derived from the Config given to New.
func WithRegionClients(f func(region string) EC2API) Option {
	return func(o *options) error { o.clients = f; return nil }
}

// WithS3Import makes the registrar upload the artifact to s3://bucket
// (multipart, in parallel) and create the snapshot with EC2 ImportSnapshot,
// instead of the EBS direct APIs. It then takes streamOptimized VMDK (the
// compact choice: holes are not uploaded), fixed VHD or raw artifacts. The
// uploaded object is deleted once the snapshot exists (or the import
// failed). c is usually NewS3Client of the Config given to New.
func WithS3Import(c S3API, bucket string) Option {
	return func(o *options) error {
		if c == nil || bucket == "" {
			return fmt.Errorf("%w: S3 import needs a client and a bucket", ErrConfig)
		}
		o.s3, o.bucket = c, bucket
		return nil
	}
}

// New returns a Registrar for the region of cfg, using the SDK's standard
// credential chain (environment, shared config, SSO, web identity,
// instance role), retry settings and HTTP client that cfg carries. EC2 is
// called through an EC2Client (the EC2 Query API, signed with the SDK's
// SigV4 signer), EBS through the SDK's EBS client. Copies to other regions
// use EC2Clients of cfg for those regions unless WithRegionClients says
// otherwise.
func New(cfg awsv2.Config, opts ...Option) (*Registrar, error) {
	byRegion := WithRegionClients(func(region string) EC2API {
		c := cfg.Copy()
		c.Region = region
		return NewEC2Client(c)
	})
	return newRegistrar(cfg.Region, ebs.NewFromConfig(cfg), NewEC2Client(cfg), append([]Option{byRegion}, opts...)...)
}

// NewWithClients returns a Registrar for region using the given clients.
func NewWithClients(region string, e EBSAPI, c EC2API, opts ...Option) (*Registrar, error) {
	return newRegistrar(region, e, c, opts...)
}

func newRegistrar(region string, e EBSAPI, c EC2API, opts ...Option) (*Registrar, error) {
	o := options{workers: 16, poll: 5 * time.Second, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if region == "" {
		return nil, fmt.Errorf("%w: no region (set AWS_REGION or the config's Region)", ErrConfig)
	}
	if len(o.copyRegions) > 0 && o.clients == nil {
		return nil, fmt.Errorf("%w: copies to %v need region clients (WithRegionClients)", ErrConfig, o.copyRegions)
	}
	return &Registrar{region: region, ebs: e, ec2: c, o: o}, nil
}

// Target returns vm.AWS.
func (r *Registrar) Target() vm.Cloud { return vm.AWS }

// Accepts reports whether the registrar takes artifacts of format f: the
// EBS direct path uploads raw disks; the S3 import path takes VMDK, VHD and
// raw.
func (r *Registrar) Accepts(f vm.DiskFormat) bool {
	if r.o.s3 != nil {
		_, ok := importFormats[f]
		return ok
	}
	return f == vm.FormatRaw
}

// imageName is the AMI name of an entry: unique per build and digest.
func imageName(ref vm.Ref) string {
	v := ref.Variant
	if ref.FIPS {
		v += "-fips"
	}
	d := ""
	if ref.Digest.Validate() == nil {
		d = ref.Digest.Encoded()
	}
	return fmt.Sprintf("hardvm-%s-%s-%s-%s-%s", v, ref.Kernel, ref.Arch, ref.Version, d[:min(12, len(d))])
}

// amiArch is RegisterImage's Architecture of a.
func amiArch(a vm.Arch) string {
	if a == vm.Aarch64 {
		return "arm64"
	}
	return "x86_64"
}

// Register uploads the raw disk a into an EBS snapshot and registers an AMI
// from it, tagged with the entry's Ref and the disk's digest; then shares
// and copies it as configured. It checks AWS's rules before any upload, and
// the digest while the disk uploads (the bytes sent are the bytes hashed):
// an artifact that breaks a rule or whose file does not have its digest is
// refused with a *catalog.ArtifactError (catalog.ErrRejected). Registering
// the same artifact again returns the existing AMI. On failure nothing is
// left: the snapshot (never completed when the digest is wrong), the S3
// object or multipart upload, the AMI and any copies are deleted.
func (r *Registrar) Register(ctx context.Context, a artifact.Artifact, e catalog.Entry) (loc catalog.Location, err error) {
	src, err := catalog.OpenArtifact(a, string(vm.AWS), r.o.progress)
	if err != nil {
		return catalog.Location{}, err
	}
	defer src.Close()
	if err := r.check(src); err != nil {
		return catalog.Location{}, err
	}
	ref := e.Ref
	name := imageName(ref)
	if id, err := findImage(ctx, r.ec2, name); err != nil {
		return catalog.Location{}, err
	} else if id != "" {
		r.o.logger.InfoContext(ctx, "aws: image already registered", "ami", id, "name", name)
		return r.location(id, a), nil
	}
	tags := map[string]string{"Name": name, "hardvm:ref": ref.String(), "hardvm:digest": a.Digest.String(), "hardvm:stream": ref.Stream()}

	var snap, ami string
	var copies []string // region/ami
	defer func() {
		if err == nil {
			return
		}
		cctx := context.WithoutCancel(ctx)
		var errs []error
		for _, c := range copies {
			region, id, _ := strings.Cut(c, "/")
			errs = append(errs, deleteImage(cctx, r.o.clients(region), id, ""))
		}
		errs = append(errs, deleteImage(cctx, r.ec2, ami, snap))
		if cerr := errors.Join(errs...); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
	}()

	token := a.Digest.Encoded()[:32]
	if r.o.s3 != nil {
		key := "hardvm/" + name + a.Format.Ext()
		err = uploadMultipart(ctx, r.o.s3, r.o.bucket, key, src, map[string]string{"hardvm-ref": ref.String(), "hardvm-digest": a.Digest.String()}, min(r.o.workers, 4))
		if err == nil {
			snap, err = importSnapshot(ctx, r.ec2, r.o.bucket, key, importFormats[a.Format], "hardvm "+ref.String(), token, tags, r.o.poll)
		}
		// The snapshot holds the data now (or the import failed): the
		// object is not kept either way.
		if derr := r.o.s3.DeleteObject(context.WithoutCancel(ctx), r.o.bucket, key); derr != nil {
			r.o.logger.WarnContext(ctx, "aws: could not delete the uploaded object", "key", key, "err", derr)
		}
		if err != nil {
			return catalog.Location{}, err
		}
		r.o.logger.InfoContext(ctx, "aws: snapshot imported from S3", "snapshot", snap, "bytes_sent", src.Size())
	} else {
		var st UploadStats
		snap, st, err = uploadSnapshot(ctx, r.ebs, src, snapshotSpec{
			description: "hardvm " + ref.String(), tags: tags, workers: r.o.workers, clientToken: token,
		})
		if err != nil {
			return catalog.Location{}, err
		}
		r.o.logger.InfoContext(ctx, "aws: snapshot uploaded", "snapshot", snap, "blocks", st.Blocks, "bytes_sent", st.BytesSent, "bytes_skipped", st.BytesZero)
	}
	if err := waitSnapshot(ctx, r.ec2, snap, r.o.poll); err != nil {
		return catalog.Location{}, err
	}
	ami, err = registerImage(ctx, r.ec2, imageSpec{
		name: name, description: "hardvm " + ref.String(), arch: amiArch(ref.Arch),
		snapshotID: snap, tags: tags, uefiData: r.o.uefiData,
	})
	if err != nil {
		return catalog.Location{}, err
	}
	if err := share(ctx, r.ec2, ami, r.o.accounts); err != nil {
		return catalog.Location{}, err
	}
	loc = r.location(ami, a)
	for _, region := range r.o.copyRegions {
		c := r.o.clients(region)
		id, err := copyImage(ctx, c, r.region, ami, name, "hardvm "+ref.String())
		if err != nil {
			return catalog.Location{}, fmt.Errorf("aws: CopyImage %s to %s: %w", ami, region, err)
		}
		copies = append(copies, region+"/"+id)
		if err := share(ctx, c, id, r.o.accounts); err != nil {
			return catalog.Location{}, err
		}
		loc.Copies = append(loc.Copies, catalog.Location{Target: vm.AWS, Region: region, ID: id, Format: a.Format, Digest: a.Digest})
	}
	return loc, nil
}

func (r *Registrar) location(ami string, a artifact.Artifact) catalog.Location {
	return catalog.Location{
		Target: vm.AWS, Region: r.region, ID: ami, Format: a.Format, Digest: a.Digest,
		URI: "arn:aws:ec2:" + r.region + "::image/" + ami,
	}
}

// Deregister deregisters the AMI (and its copies) and deletes the
// snapshots. An AMI that is already gone is not an error.
func (r *Registrar) Deregister(ctx context.Context, loc catalog.Location) error {
	var errs []error
	for _, c := range loc.Copies {
		errs = append(errs, r.deregister(ctx, r.o.clients(c.Region), c.ID))
	}
	errs = append(errs, r.deregister(ctx, r.ec2, loc.ID))
	return errors.Join(errs...)
}

func (r *Registrar) deregister(ctx context.Context, c EC2API, ami string) error {
	snaps, found, err := imageSnapshots(ctx, c, ami)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("aws: DescribeImages %s: %w", ami, err)
	}
	if !found {
		return nil
	}
	errs := []error{deleteImage(ctx, c, ami, "")}
	for _, s := range snaps {
		errs = append(errs, deleteImage(ctx, c, "", s))
	}
	return errors.Join(errs...)
}

// Deprecate sets the AMI's (and its copies') deprecation time: the end of
// life when given, else the deprecation time. EC2 has no replacement field;
// the replacement is recorded in the catalog.
func (r *Registrar) Deprecate(ctx context.Context, loc catalog.Location, d catalog.Deprecation) error {
	at := d.EndOfLife
	if at.IsZero() {
		at = d.Time
	}
	errs := []error{deprecate(ctx, r.ec2, loc.ID, at)}
	for _, c := range loc.Copies {
		errs = append(errs, deprecate(ctx, r.o.clients(c.Region), c.ID, at))
	}
	return errors.Join(errs...)
}

// check applies the platform's rules before any upload.
func (r *Registrar) check(src *catalog.ArtifactFile) error {
	a := src.Artifact()
	if !r.Accepts(a.Format) {
		if r.o.s3 != nil {
			return src.Reject(catalog.RuleFormat, fmt.Errorf("format %s: ImportSnapshot takes vmdk, vhd or raw", a.Format))
		}
		return src.Reject(catalog.RuleFormat, fmt.Errorf("format %s: the EBS direct upload takes a raw disk (or use WithS3Import)", a.Format))
	}
	virtual := a.VirtualSize
	if a.Format == vm.FormatRaw {
		if virtual != 0 && virtual != src.Size() {
			return src.Reject(catalog.RuleSize, fmt.Errorf("raw file is %d bytes, the artifact's virtual size is %d", src.Size(), virtual))
		}
		virtual = src.Size()
	}
	if virtual == 0 {
		virtual = src.Size()
	}
	p, _ := vm.LookupPlatform(vm.AWS)
	if err := p.CheckSize(virtual); err != nil {
		return src.Reject("aws-size", err)
	}
	return nil
}
