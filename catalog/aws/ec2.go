package aws

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"
)

// imageSpec is what registerImage needs.
type imageSpec struct {
	name        string
	description string
	arch        string // x86_64 or arm64
	snapshotID  string
	tags        map[string]string
	uefiData    string // base64 UEFI variable store with Secure Boot keys, optional
}

// rootDevice is where the image's root volume attaches.
const rootDevice = "/dev/xvda"

// ec2Snapshots is the answer of DescribeSnapshots.
type ec2Snapshots struct {
	Snapshots []struct {
		ID      string `xml:"snapshotId"`
		State   string `xml:"status"` // pending, completed, error, …
		Message string `xml:"statusMessage"`
	} `xml:"snapshotSet>item"`
	NextToken string `xml:"nextToken"`
}

// waitSnapshot polls until the snapshot is completed, failed or ctx ends.
func waitSnapshot(ctx context.Context, api EC2API, id string, every time.Duration) error {
	p := url.Values{}
	ec2List(p, "SnapshotId", id)
	for {
		var out ec2Snapshots
		if err := api.Call(ctx, "DescribeSnapshots", p, &out); err != nil {
			return fmt.Errorf("aws: DescribeSnapshots %s: %w", id, err)
		}
		if len(out.Snapshots) != 1 || out.Snapshots[0].ID != id {
			return fmt.Errorf("aws: DescribeSnapshots %s: %d snapshots in the answer", id, len(out.Snapshots))
		}
		switch s := out.Snapshots[0]; s.State {
		case "completed":
			return nil
		case "error":
			return fmt.Errorf("%w: snapshot %s: %s", ErrOperation, id, s.Message)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// ec2ImageID is the answer of RegisterImage and CopyImage.
type ec2ImageID struct {
	ID string `xml:"imageId"`
}

// registerImage registers an AMI from the snapshot with the boot settings
// hardvm images need: UEFI, ENA, IMDSv2 only, TPM 2.0, NVMe root on gp3.
func registerImage(ctx context.Context, api EC2API, s imageSpec) (string, error) {
	p := url.Values{
		"Name":                                {s.name},
		"Architecture":                        {s.arch},
		"BootMode":                            {"uefi"},
		"EnaSupport":                          {"true"},
		"ImdsSupport":                         {"v2.0"},
		"TpmSupport":                          {"v2.0"},
		"RootDeviceName":                      {rootDevice},
		"VirtualizationType":                  {"hvm"},
		"BlockDeviceMapping.1.DeviceName":     {rootDevice},
		"BlockDeviceMapping.1.Ebs.SnapshotId": {s.snapshotID},
		"BlockDeviceMapping.1.Ebs.VolumeType": {"gp3"},
		"BlockDeviceMapping.1.Ebs.DeleteOnTermination": {"true"},
	}
	if s.description != "" {
		p.Set("Description", s.description)
	}
	if s.uefiData != "" {
		p.Set("UefiData", s.uefiData)
	}
	ec2TagSpec(p, 1, "image", s.tags)
	var out ec2ImageID
	if err := api.Call(ctx, "RegisterImage", p, &out); err != nil {
		return "", fmt.Errorf("aws: RegisterImage %s: %w", s.name, err)
	}
	if out.ID == "" {
		return "", fmt.Errorf("aws: RegisterImage %s: %w: no imageId", s.name, ErrResponse)
	}
	return out.ID, nil
}

// copyImage copies the image of srcRegion into the region of api and
// returns the copy's id.
func copyImage(ctx context.Context, api EC2API, srcRegion, imageID, name, description string) (string, error) {
	p := url.Values{
		"SourceImageId": {imageID}, "SourceRegion": {srcRegion}, "Name": {name},
		"Description": {description}, "CopyImageTags": {"true"},
		// Idempotency across the retries of this call, as the SDK fills it.
		"ClientToken": {rand.Text()},
	}
	var out ec2ImageID
	if err := api.Call(ctx, "CopyImage", p, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("%w: no imageId", ErrResponse)
	}
	return out.ID, nil
}

// ec2Images is a page of DescribeImages.
type ec2Images struct {
	Images []struct {
		ID       string `xml:"imageId"`
		Name     string `xml:"name"`
		Mappings []struct {
			SnapshotID string `xml:"ebs>snapshotId"`
		} `xml:"blockDeviceMapping>item"`
	} `xml:"imagesSet>item"`
	NextToken string `xml:"nextToken"`
}

// describeImagesPageSize is DescribeImages' MaxResults (its documented
// maximum) when it lists by filter.
const describeImagesPageSize = 1000

// findImage returns the id of an image with the given name owned by the
// caller, or "" if there is none: registration is idempotent by name.
func findImage(ctx context.Context, api EC2API, name string) (string, error) {
	p := url.Values{"Filter.1.Name": {"name"}, "Filter.1.Value.1": {name}, "MaxResults": {fmt.Sprint(describeImagesPageSize)}}
	ec2List(p, "Owner", "self")
	id := ""
	err := ec2Pages(ctx, api, "DescribeImages", p, func(out *ec2Images) string {
		for _, img := range out.Images {
			if img.Name == name && id == "" {
				id = img.ID
			}
		}
		if id != "" {
			return ""
		}
		return out.NextToken
	})
	if err != nil {
		return "", fmt.Errorf("aws: DescribeImages %s: %w", name, err)
	}
	return id, nil
}

// imageSnapshots returns the snapshots of the image's EBS mappings, and
// whether EC2 knows the image.
func imageSnapshots(ctx context.Context, api EC2API, imageID string) ([]string, bool, error) {
	p := url.Values{}
	ec2List(p, "ImageId", imageID)
	var snaps []string
	found := false
	err := ec2Pages(ctx, api, "DescribeImages", p, func(out *ec2Images) string {
		for _, img := range out.Images {
			if img.ID != imageID {
				continue
			}
			found = true
			for _, m := range img.Mappings {
				if m.SnapshotID != "" {
					snaps = append(snaps, m.SnapshotID)
				}
			}
		}
		return out.NextToken
	})
	return snaps, found, err
}

// share grants launch permission to accounts.
func share(ctx context.Context, api EC2API, imageID string, accounts []string) error {
	if len(accounts) == 0 {
		return nil
	}
	p := url.Values{"ImageId": {imageID}}
	for i, a := range accounts {
		p.Set(fmt.Sprintf("LaunchPermission.Add.%d.UserId", i+1), a)
	}
	if err := callReturn(ctx, api, "ModifyImageAttribute", p); err != nil {
		return fmt.Errorf("aws: share %s with %v: %w", imageID, accounts, err)
	}
	return nil
}

// deprecate sets the image's deprecation time.
func deprecate(ctx context.Context, api EC2API, imageID string, at time.Time) error {
	p := url.Values{"ImageId": {imageID}, "DeprecateAt": {at.UTC().Format(time.RFC3339)}}
	if err := callReturn(ctx, api, "EnableImageDeprecation", p); err != nil {
		return fmt.Errorf("aws: EnableImageDeprecation %s: %w", imageID, err)
	}
	return nil
}

// ec2Return is the answer of the actions that only say whether they
// succeeded.
type ec2Return struct {
	Return string `xml:"return"`
}

// callReturn calls an action whose answer is <return>true</return>.
func callReturn(ctx context.Context, api EC2API, action string, p url.Values) error {
	var out ec2Return
	if err := api.Call(ctx, action, p, &out); err != nil {
		return err
	}
	if out.Return == "false" {
		return fmt.Errorf("%w: EC2 %s returned false", ErrOperation, action)
	}
	return nil
}

// deleteImage deregisters the image and deletes its snapshots, ignoring
// what is already gone.
func deleteImage(ctx context.Context, api EC2API, imageID, snapshotID string) error {
	var errs []error
	if imageID != "" {
		if err := callReturn(ctx, api, "DeregisterImage", url.Values{"ImageId": {imageID}}); err != nil && !notFound(err) {
			errs = append(errs, fmt.Errorf("aws: DeregisterImage %s: %w", imageID, err))
		}
	}
	if snapshotID != "" {
		if err := callReturn(ctx, api, "DeleteSnapshot", url.Values{"SnapshotId": {snapshotID}}); err != nil && !notFound(err) {
			errs = append(errs, fmt.Errorf("aws: DeleteSnapshot %s: %w", snapshotID, err))
		}
	}
	return errors.Join(errs...)
}

// notFound reports an EC2 answer saying the resource is gone.
func notFound(err error) bool { return errors.Is(err, ErrNotFound) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
