package azure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

// Config says where the registrar publishes.
type Config struct {
	// SubscriptionID, ResourceGroup and Gallery name the Compute Gallery.
	SubscriptionID, ResourceGroup, Gallery string
	// Location is the region of the gallery; image versions are
	// replicated there and to Regions.
	Location string
	Regions  []string
	// Container is the blob container VHDs are uploaded to, in the storage
	// account whose ARM resource id is StorageAccountID.
	Container        *Container
	StorageAccountID string
	// Credential authenticates to Azure Resource Manager (e.g. azidentity's
	// DefaultAzureCredential: environment, workload identity, managed
	// identity, Azure CLI).
	Credential azcore.TokenCredential
	// Publisher is the publisher of the gallery image definitions
	// ("hardvm" if empty).
	Publisher string
}

// Registrar publishes fixed VHDs as Compute Gallery image versions. It
// implements catalog.Registrar, catalog.FormatAccepter and
// catalog.Deprecator.
type Registrar struct {
	cfg      Config
	images   *armcompute.GalleryImagesClient
	versions *armcompute.GalleryImageVersionsClient
	o        options
}

// Option configures a Registrar.
type Option func(*options) error

type options struct {
	arm      *arm.ClientOptions
	workers  int
	poll     time.Duration
	keepBlob bool
	logger   *slog.Logger
	progress progress.Reporter
}

// WithARMOptions sets the Resource Manager client options (cloud,
// retries, transport).
func WithARMOptions(o *arm.ClientOptions) Option {
	return func(x *options) error { x.arm = o; return nil }
}

// WithWorkers sets how many Put Page requests run at once (default 8).
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("%w: workers %d outside 1..64", ErrOption, n)
		}
		o.workers = n
		return nil
	}
}

// WithPollInterval sets how often long-running ARM operations are polled
// when the service gives no Retry-After (default 10s).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: poll interval %v", ErrOption, d)
		}
		o.poll = d
		return nil
	}
}

// WithKeepBlob keeps the uploaded VHD blob once the image version exists
// (by default it is deleted: the version holds its own copy). Deregister
// deletes a kept blob.
func WithKeepBlob() Option { return func(o *options) error { o.keepBlob = true; return nil } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithProgress reports upload progress, stage "azure upload <file name>",
// in bytes of the VHD.
func WithProgress(p progress.Reporter) Option {
	return func(o *options) error { o.progress = p; return nil }
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,78}[A-Za-z0-9])?$`)

// New returns a Registrar publishing to the gallery of cfg.
func New(cfg Config, opts ...Option) (*Registrar, error) {
	o := options{workers: 8, poll: 10 * time.Second, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	var bad []string
	for what, v := range map[string]string{"subscription id": cfg.SubscriptionID, "resource group": cfg.ResourceGroup, "gallery": cfg.Gallery, "location": cfg.Location} {
		if !nameRe.MatchString(v) {
			bad = append(bad, fmt.Sprintf("%s %q", what, v))
		}
	}
	if !strings.Contains(strings.ToLower(cfg.StorageAccountID), "/providers/microsoft.storage/storageaccounts/") {
		bad = append(bad, fmt.Sprintf("storage account id %q", cfg.StorageAccountID))
	}
	if cfg.Container == nil || cfg.Credential == nil {
		bad = append(bad, "a container and a credential are required")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrOption, strings.Join(bad, ", "))
	}
	if cfg.Publisher == "" {
		cfg.Publisher = "hardvm"
	}
	images, err := armcompute.NewGalleryImagesClient(cfg.SubscriptionID, cfg.Credential, o.arm)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	versions, err := armcompute.NewGalleryImageVersionsClient(cfg.SubscriptionID, cfg.Credential, o.arm)
	if err != nil {
		return nil, fmt.Errorf("azure: %w", err)
	}
	return &Registrar{cfg: cfg, images: images, versions: versions, o: o}, nil
}

// Target returns vm.Azure.
func (r *Registrar) Target() vm.Cloud { return vm.Azure }

// Accepts reports whether the registrar takes artifacts of format f:
// fixed VHDs.
func (r *Registrar) Accepts(f vm.DiskFormat) bool { return f == vm.FormatVHD }

// ImageName is the gallery image definition of a stream:
// variant[-fips]-arch-track, e.g. base-fips-x86_64-lts.
func ImageName(ref vm.Ref) string {
	v := ref.Variant
	if ref.FIPS {
		v += "-fips"
	}
	return v + "-" + string(ref.Arch) + "-" + string(ref.Kernel)
}

func (r *Registrar) spec(ref vm.Ref) imageSpec {
	offer := ref.Variant
	if ref.FIPS {
		offer += "-fips"
	}
	return imageSpec{
		resourceGroup: r.cfg.ResourceGroup, gallery: r.cfg.Gallery, name: ImageName(ref),
		location: r.cfg.Location, publisher: r.cfg.Publisher, offer: offer,
		sku: string(ref.Arch) + "-" + string(ref.Kernel), arch: ref.Arch,
		description: "hardvm " + ref.Stream(),
	}
}

// Register checks the VHD a against Azure's rules, uploads it as a page
// blob (data pages only), creates or updates the gallery image definition
// of its stream (Gen2, Trusted Launch) and creates the image version of
// the entry, tagged with its Ref and digest. The digest of the file is
// checked while it uploads, before its last pages are written; an
// artifact that breaks a rule or whose file does not have its digest is
// refused with a *catalog.ArtifactError (catalog.ErrRejected).
// Registering the same artifact again returns the existing version. On
// failure the blob and the version are deleted.
func (r *Registrar) Register(ctx context.Context, a artifact.Artifact, e catalog.Entry) (loc catalog.Location, err error) {
	src, err := catalog.OpenArtifact(a, string(vm.Azure), r.o.progress)
	if err != nil {
		return catalog.Location{}, err
	}
	defer src.Close()
	if err := check(src); err != nil {
		return catalog.Location{}, err
	}
	ref := e.Ref
	is := r.spec(ref)
	id := versionID{r.cfg.SubscriptionID, r.cfg.ResourceGroup, r.cfg.Gallery, is.name, versionName(ref.Version)}
	if old, err := r.versions.Get(ctx, id.resourceGroup, id.gallery, id.image, id.version, nil); err == nil {
		if d := old.Tags[TagDigest]; d != nil && *d == a.Digest.String() && old.Properties != nil && old.Properties.ProvisioningState != nil &&
			*old.Properties.ProvisioningState == armcompute.GalleryProvisioningStateSucceeded {
			r.o.logger.InfoContext(ctx, "azure: image version already registered", "id", id.String())
			return r.location(id, a, ""), nil
		}
		if d := old.Tags[TagDigest]; d != nil && *d != a.Digest.String() {
			return catalog.Location{}, fmt.Errorf("%w: image version %s holds digest %s, not %s", catalog.ErrConflict, id, *d, a.Digest)
		}
	} else if !notFound(err) {
		return catalog.Location{}, fmt.Errorf("azure: get image version %s: %w", id, err)
	}

	blobName := is.name + "-" + id.version + ".vhd"
	blobURI := r.cfg.Container.BlobURL(blobName) // without the SAS
	tags := Tags(ref)
	tags[TagDigest] = a.Digest.String()
	created := false
	defer func() {
		if err == nil {
			return
		}
		// Roll back with a context of its own: ctx may be why we failed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
		defer cancel()
		if created {
			if derr := deleteVersion(cctx, r.versions, id, r.o.poll); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		if derr := r.cfg.Container.deleteBlob(cctx, blobName); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	st, err := uploadPageBlob(ctx, r.cfg.Container, blobName, src, blobSpec{metadata: metadata(tags), workers: r.o.workers})
	if err != nil {
		return catalog.Location{}, err
	}
	r.o.logger.InfoContext(ctx, "azure: uploaded page blob", "blob", blobURI, "sent", st.BytesSent, "skipped", st.BytesSkipped, "requests", st.Requests)
	if err := ensureImage(ctx, r.images, is, r.o.poll); err != nil {
		return catalog.Location{}, err
	}
	vs := versionSpec{image: is, name: id.version, blobURI: blobURI, storageAccountID: r.cfg.StorageAccountID, regions: r.cfg.Regions, tags: tags}
	if d := e.Deprecation; d != nil {
		vs.excludeFromLatest = true
		vs.endOfLife = endOfLife(*d)
		if d.Replacement != nil {
			vs.tags[TagReplacement] = d.Replacement.String()
		}
	}
	created = true
	if _, err := createVersion(ctx, r.versions, vs, r.o.poll); err != nil {
		return catalog.Location{}, err
	}
	uri := blobURI
	if !r.o.keepBlob {
		if err := r.cfg.Container.deleteBlob(ctx, blobName); err != nil {
			r.o.logger.WarnContext(ctx, "azure: could not delete the uploaded blob", "blob", uri, "err", err)
		}
		uri = ""
	}
	return r.location(id, a, uri), nil
}

func (r *Registrar) location(id versionID, a artifact.Artifact, uri string) catalog.Location {
	return catalog.Location{Target: vm.Azure, Region: r.cfg.Location, ID: id.String(), URI: uri, Format: vm.FormatVHD, Digest: a.Digest}
}

func endOfLife(d catalog.Deprecation) time.Time {
	if !d.EndOfLife.IsZero() {
		return d.EndOfLife
	}
	return d.Time
}

// TagReplacement is the tag naming the image that replaces a deprecated
// one (gallery image versions have no field for it).
const TagReplacement = "hardvm-replacement"

// Deprecate excludes the image version at loc from "latest", sets its
// end-of-life date (d.EndOfLife, or d.Time) and tags its replacement.
func (r *Registrar) Deprecate(ctx context.Context, loc catalog.Location, d catalog.Deprecation) error {
	id, err := parseVersionID(loc.ID)
	if err != nil {
		return err
	}
	tags := map[string]string{}
	if old, err := r.versions.Get(ctx, id.resourceGroup, id.gallery, id.image, id.version, nil); err != nil {
		return fmt.Errorf("azure: get image version %s: %w", id, err)
	} else {
		for k, v := range old.Tags {
			if v != nil {
				tags[k] = *v
			}
		}
	}
	if d.Replacement != nil {
		tags[TagReplacement] = d.Replacement.String()
	}
	return deprecateVersion(ctx, r.versions, id, endOfLife(d), tags, r.o.poll)
}

// Deregister deletes the image version at loc and its blob, if kept. A
// location already gone is not an error.
func (r *Registrar) Deregister(ctx context.Context, loc catalog.Location) error {
	if loc.Target != "" && loc.Target != vm.Azure {
		return fmt.Errorf("%w: target %s", ErrLocation, loc.Target)
	}
	id, err := parseVersionID(loc.ID)
	if err != nil {
		return err
	}
	if err := deleteVersion(ctx, r.versions, id, r.o.poll); err != nil {
		return err
	}
	return r.cfg.Container.deleteBlob(ctx, id.image+"-"+id.version+".vhd")
}
