package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hardvm/hardvm/vm"
)

// SecurityType is the gallery image feature hardvm images carry: they
// boot with Trusted Launch (Secure Boot and vTPM) and may also be used
// without it.
const SecurityType = "TrustedLaunchSupported"

// imageSpec is the gallery image definition of a stream.
type imageSpec struct {
	resourceGroup, gallery, name string
	location                     string
	publisher, offer, sku        string
	arch                         vm.Arch
	description                  string
}

// versionSpec is one gallery image version.
type versionSpec struct {
	image             imageSpec
	name              string // Major.Minor.Patch
	blobURI           string
	storageAccountID  string
	regions           []string // target regions besides the image's location
	excludeFromLatest bool
	endOfLife         time.Time
	tags              map[string]string
}

// ensureImage creates or updates the gallery image definition: Linux,
// generalized, Hyper-V generation 2 (UEFI), the Trusted Launch security
// type, the architecture of the image.
func ensureImage(ctx context.Context, c *armcompute.GalleryImagesClient, s imageSpec, poll time.Duration) error {
	arch := armcompute.ArchitectureX64
	if s.arch == vm.Aarch64 {
		arch = armcompute.ArchitectureArm64
	}
	p, err := c.BeginCreateOrUpdate(ctx, s.resourceGroup, s.gallery, s.name, armcompute.GalleryImage{
		Location: to.Ptr(s.location),
		Properties: &armcompute.GalleryImageProperties{
			Identifier:       &armcompute.GalleryImageIdentifier{Publisher: to.Ptr(s.publisher), Offer: to.Ptr(s.offer), SKU: to.Ptr(s.sku)},
			OSType:           to.Ptr(armcompute.OperatingSystemTypesLinux),
			OSState:          to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			HyperVGeneration: to.Ptr(armcompute.HyperVGenerationV2),
			Architecture:     to.Ptr(arch),
			Description:      to.Ptr(s.description),
			Features: []*armcompute.GalleryImageFeature{
				{Name: to.Ptr("SecurityType"), Value: to.Ptr(SecurityType)},
			},
		},
	}, nil)
	if err != nil {
		return fmt.Errorf("azure: create gallery image %s/%s: %w", s.gallery, s.name, err)
	}
	r, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: poll})
	if err != nil {
		return fmt.Errorf("azure: create gallery image %s/%s: %w", s.gallery, s.name, err)
	}
	if st := r.Properties; st == nil || st.ProvisioningState == nil || *st.ProvisioningState != armcompute.GalleryProvisioningStateSucceeded {
		return fmt.Errorf("%w: gallery image %s/%s", ErrProvisioning, s.gallery, s.name)
	}
	return nil
}

// createVersion creates the image version from the page blob and waits
// until it is provisioned; it returns the version's resource id.
func createVersion(ctx context.Context, c *armcompute.GalleryImageVersionsClient, s versionSpec, poll time.Duration) (string, error) {
	regions := []*armcompute.TargetRegion{{Name: to.Ptr(s.image.location), RegionalReplicaCount: to.Ptr[int32](1)}}
	for _, r := range s.regions {
		if r != s.image.location {
			regions = append(regions, &armcompute.TargetRegion{Name: to.Ptr(r), RegionalReplicaCount: to.Ptr[int32](1)})
		}
	}
	pub := &armcompute.GalleryImageVersionPublishingProfile{
		ExcludeFromLatest:  to.Ptr(s.excludeFromLatest),
		TargetRegions:      regions,
		StorageAccountType: to.Ptr(armcompute.StorageAccountTypeStandardZRS),
	}
	if !s.endOfLife.IsZero() {
		pub.EndOfLifeDate = to.Ptr(s.endOfLife.UTC())
	}
	p, err := c.BeginCreateOrUpdate(ctx, s.image.resourceGroup, s.image.gallery, s.image.name, s.name, armcompute.GalleryImageVersion{
		Location: to.Ptr(s.image.location),
		Tags:     ptrs(s.tags),
		Properties: &armcompute.GalleryImageVersionProperties{
			PublishingProfile: pub,
			StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
				OSDiskImage: &armcompute.GalleryOSDiskImage{
					HostCaching: to.Ptr(armcompute.HostCachingReadOnly),
					Source:      &armcompute.GalleryDiskImageSource{URI: to.Ptr(s.blobURI), StorageAccountID: to.Ptr(s.storageAccountID)},
				},
			},
		},
	}, nil)
	if err != nil {
		return "", fmt.Errorf("azure: create image version %s/%s/%s: %w", s.image.gallery, s.image.name, s.name, err)
	}
	r, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: poll})
	if err != nil {
		return "", fmt.Errorf("azure: create image version %s/%s/%s: %w", s.image.gallery, s.image.name, s.name, err)
	}
	if r.ID == nil {
		return "", fmt.Errorf("%w: image version %s has no id", ErrProvisioning, s.name)
	}
	return *r.ID, nil
}

// deprecateVersion excludes the version from "latest" and sets its
// end-of-life date; replacement, if not empty, is recorded as a tag.
func deprecateVersion(ctx context.Context, c *armcompute.GalleryImageVersionsClient, id versionID, eol time.Time, tags map[string]string, poll time.Duration) error {
	pub := &armcompute.GalleryImageVersionPublishingProfile{ExcludeFromLatest: to.Ptr(true)}
	if !eol.IsZero() {
		pub.EndOfLifeDate = to.Ptr(eol.UTC())
	}
	p, err := c.BeginUpdate(ctx, id.resourceGroup, id.gallery, id.image, id.version, armcompute.GalleryImageVersionUpdate{
		Tags:       ptrs(tags),
		Properties: &armcompute.GalleryImageVersionProperties{PublishingProfile: pub},
	}, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: poll})
	}
	if err != nil {
		return fmt.Errorf("azure: deprecate image version %s: %w", id, err)
	}
	return nil
}

// deleteVersion deletes an image version; one already gone is not an
// error.
func deleteVersion(ctx context.Context, c *armcompute.GalleryImageVersionsClient, id versionID, poll time.Duration) error {
	p, err := c.BeginDelete(ctx, id.resourceGroup, id.gallery, id.image, id.version, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: poll})
	}
	if err != nil && !notFound(err) {
		return fmt.Errorf("azure: delete image version %s: %w", id, err)
	}
	return nil
}

func notFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

func ptrs(m map[string]string) map[string]*string {
	if m == nil {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = to.Ptr(v)
	}
	return out
}
