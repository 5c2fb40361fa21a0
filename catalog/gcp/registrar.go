package gcp

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// Registrar publishes GCE tar.gz artifacts as Compute Engine images. It
// implements catalog.Registrar, catalog.FormatAccepter and
// catalog.Deprecator.
type Registrar struct {
	project, bucket string
	c               *client
	o               options
}

// Option configures a Registrar.
type Option func(*options) error

type options struct {
	storage    string
	compute    string
	members    []string
	locations  []string
	dbCert     []byte
	keepObject bool
	chunk      int
	poll       time.Duration
	logger     *slog.Logger
	progress   progress.Reporter
}

// WithShareMembers grants roles/compute.imageUser to IAM members
// ("user:…", "group:…", "serviceAccount:…", "domain:…").
func WithShareMembers(m ...string) Option {
	return func(o *options) error { o.members = append(o.members, m...); return nil }
}

// WithEndpoints sets the base URLs of the Cloud Storage JSON API (default
// DefaultStorageEndpoint) and of the Compute Engine v1 API (default
// DefaultComputeEndpoint), for emulators and private endpoints. An empty
// string keeps the default.
func WithEndpoints(storage, compute string) Option {
	return func(o *options) error {
		if storage != "" {
			o.storage = storage
		}
		if compute != "" {
			o.compute = compute
		}
		return nil
	}
}

// WithChunkSize sets the size of the chunks the upload sends, a multiple
// of 256 KiB (default 16 MiB): the registrar holds one chunk in memory, to
// send it again after a failure.
func WithChunkSize(n int) Option {
	return func(o *options) error {
		if n < uploadQuantum || n%uploadQuantum != 0 {
			return fmt.Errorf("%w: chunk size %d is not a positive multiple of 256 KiB", ErrConfig, n)
		}
		o.chunk = n
		return nil
	}
}

// WithStorageLocations sets where the image is stored (e.g. "eu", "us").
func WithStorageLocations(l ...string) Option {
	return func(o *options) error { o.locations = append(o.locations, l...); return nil }
}

// WithSecureBootDB sets the DER certificate of the Secure Boot db that
// shielded VMs launched from the image trust (shieldedInstanceInitialState).
func WithSecureBootDB(der []byte) Option {
	return func(o *options) error {
		if len(der) == 0 {
			return fmt.Errorf("%w: empty db certificate", ErrConfig)
		}
		o.dbCert = der
		return nil
	}
}

// WithKeepObject keeps the uploaded tar.gz in the bucket after the image
// is created (by default it is deleted: the image holds its own copy).
func WithKeepObject() Option { return func(o *options) error { o.keepObject = true; return nil } }

// WithPollInterval sets how often operations are polled (default 2s).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error { o.poll = d; return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithProgress reports upload progress, stage "gcp upload <file name>", in
// bytes of the artifact (holes that are not sent count as done).
func WithProgress(r progress.Reporter) Option {
	return func(o *options) error { o.progress = r; return nil }
}

// New returns a Registrar creating images in project from objects it
// uploads to bucket, calling the Compute Engine and Cloud Storage REST
// APIs with hc. hc carries the credentials, with scope [Scope]: for
// Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
// gcloud's, the metadata server), golang.org/x/oauth2/google's
// DefaultClient(ctx, gcp.Scope).
func New(project, bucket string, hc *http.Client, opts ...Option) (*Registrar, error) {
	o := options{storage: DefaultStorageEndpoint, compute: DefaultComputeEndpoint, chunk: 16 << 20, poll: 2 * time.Second, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if project == "" || bucket == "" || hc == nil {
		return nil, fmt.Errorf("%w: project, bucket and an HTTP client are required", ErrConfig)
	}
	c, err := newClient(hc, o.storage, o.compute, defaultRetry)
	if err != nil {
		return nil, err
	}
	return &Registrar{project: project, bucket: bucket, c: c, o: o}, nil
}

// Target returns vm.GCP.
func (r *Registrar) Target() vm.Cloud { return vm.GCP }

// Accepts reports whether f is the GCE format.
func (r *Registrar) Accepts(f vm.DiskFormat) bool { return f == vm.FormatGCE }

func (r *Registrar) selfLink(name string) string {
	return "https://www.googleapis.com/compute/v1/projects/" + r.project + "/global/images/" + name
}

// Register uploads the artifact and creates the image, named and labelled
// from the entry's Ref. It checks GCE's rules before anything is
// uploaded, and the digest while the artifact uploads: the upload is
// finalized (the object created) only once the digest is verified. An
// artifact that breaks a rule or whose file does not have its digest is
// refused with a *catalog.ArtifactError (catalog.ErrRejected). The same
// artifact registered again returns the existing image; on failure the
// object and the image are removed.
func (r *Registrar) Register(ctx context.Context, a artifact.Artifact, e catalog.Entry) (loc catalog.Location, err error) {
	if err := ctx.Err(); err != nil {
		return catalog.Location{}, err
	}
	src, err := catalog.OpenArtifact(a, string(vm.GCP), r.o.progress)
	if err != nil {
		return catalog.Location{}, err
	}
	defer src.Close()
	if err := check(src); err != nil {
		return catalog.Location{}, err
	}
	ref := e.Ref
	name := imageName(ref)
	if img, err := getImage(ctx, r.c, r.project, name); err == nil {
		if img.Labels["hardvm-digest"] != refLabels(vm.Ref{Digest: a.Digest})["hardvm-digest"] && img.Labels["hardvm-digest"] != refLabels(ref)["hardvm-digest"] {
			return catalog.Location{}, fmt.Errorf("gcp: image %s exists with another digest", name)
		}
		return r.location(name, a), nil
	} else if !isNotFound(err) {
		return catalog.Location{}, fmt.Errorf("gcp: images.get %s: %w", name, err)
	}
	object := name + ".tar.gz"
	created := false
	defer func() {
		if err == nil {
			return
		}
		cctx := context.WithoutCancel(ctx)
		var errs []error
		if created {
			errs = append(errs, deleteImage(cctx, r.c, r.project, name, r.o.poll))
		}
		errs = append(errs, deleteObject(cctx, r.c, r.bucket, object))
		if cerr := errors.Join(errs...); cerr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, cerr)
		}
	}()
	meta := map[string]string{"hardvm-ref": ref.String(), "hardvm-digest": a.Digest.String()}
	if err := uploadObject(ctx, r.c, r.bucket, object, src, meta, r.o.chunk); err != nil {
		return catalog.Location{}, err
	}
	labels := refLabels(ref)
	// A failed insert may leave the image behind (status FAILED): from
	// here on, a failure deletes it (deleting none is not an error).
	created = true
	if _, err := insertImage(ctx, r.c, r.project, imageSpec{
		name: name, family: family(ref), arch: gceArch(ref.Arch), labels: labels,
		description:      "hardvm " + ref.String() + " " + a.Digest.String(),
		source:           "https://storage.googleapis.com/" + r.bucket + "/" + object,
		dbCertDER:        r.o.dbCert,
		storageLocations: r.o.locations,
	}, r.o.poll); err != nil {
		return catalog.Location{}, err
	}
	if err := shareImage(ctx, r.c, r.project, name, r.o.members); err != nil {
		return catalog.Location{}, err
	}
	if !r.o.keepObject {
		if err := deleteObject(ctx, r.c, r.bucket, object); err != nil {
			r.o.logger.WarnContext(ctx, "gcp: could not delete the uploaded object", "object", object, "err", err)
		}
	}
	return r.location(name, a), nil
}

func (r *Registrar) location(name string, a artifact.Artifact) catalog.Location {
	return catalog.Location{Target: vm.GCP, ID: name, URI: r.selfLink(name), Format: a.Format, Digest: a.Digest}
}

// Deregister deletes the image and any uploaded object left behind.
func (r *Registrar) Deregister(ctx context.Context, loc catalog.Location) error {
	return errors.Join(
		deleteImage(ctx, r.c, r.project, loc.ID, r.o.poll),
		deleteObject(ctx, r.c, r.bucket, loc.ID+".tar.gz"))
}

// Deprecate marks the image DEPRECATED, naming the replacement image, and
// OBSOLETE from its end of life.
func (r *Registrar) Deprecate(ctx context.Context, loc catalog.Location, d catalog.Deprecation) error {
	repl := ""
	if d.Replacement != nil {
		repl = r.selfLink(imageName(*d.Replacement))
	}
	return deprecateImage(ctx, r.c, r.project, loc.ID, repl, d.Time, d.EndOfLife, r.o.poll)
}

// check applies GCE's rules: a gzip'd tar whose first member is disk.raw,
// of a whole number of GiB. It reads the headers only; the upload verifies
// every byte.
func check(src *catalog.ArtifactFile) error {
	a := src.Artifact()
	if a.Format != vm.FormatGCE {
		return src.Reject(catalog.RuleFormat, fmt.Errorf("format %s: Compute Engine imports the gce format (disk.raw in a tar.gz)", a.Format))
	}
	zr, err := gzip.NewReader(io.NewSectionReader(src, 0, src.Size()))
	if err != nil {
		return src.Reject("gcp-disk-raw", fmt.Errorf("not gzip: %w", err))
	}
	h, err := tar.NewReader(zr).Next()
	if err != nil {
		return src.Reject("gcp-disk-raw", fmt.Errorf("not a tar: %w", err))
	}
	if h.Name != "disk.raw" {
		return src.Reject("gcp-disk-raw", fmt.Errorf("first tar member is %q, GCE wants disk.raw", h.Name))
	}
	size := h.Size
	if h.Typeflag == tar.TypeGNUSparse || size == 0 {
		size = a.VirtualSize
	}
	p, _ := vm.LookupPlatform(vm.GCP)
	if err := p.CheckSize(size); err != nil {
		return src.Reject("gcp-size", err)
	}
	return nil
}
