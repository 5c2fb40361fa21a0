package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2API is the part of the EC2 client the registrar uses; *ec2.Client
// satisfies it.
type EC2API interface {
	DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error)
	DeleteSnapshot(ctx context.Context, in *ec2.DeleteSnapshotInput, opts ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	RegisterImage(ctx context.Context, in *ec2.RegisterImageInput, opts ...func(*ec2.Options)) (*ec2.RegisterImageOutput, error)
	DeregisterImage(ctx context.Context, in *ec2.DeregisterImageInput, opts ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	CopyImage(ctx context.Context, in *ec2.CopyImageInput, opts ...func(*ec2.Options)) (*ec2.CopyImageOutput, error)
	ModifyImageAttribute(ctx context.Context, in *ec2.ModifyImageAttributeInput, opts ...func(*ec2.Options)) (*ec2.ModifyImageAttributeOutput, error)
	EnableImageDeprecation(ctx context.Context, in *ec2.EnableImageDeprecationInput, opts ...func(*ec2.Options)) (*ec2.EnableImageDeprecationOutput, error)
}

// imageSpec is what registerImage needs.
type imageSpec struct {
	name        string
	description string
	arch        ec2types.ArchitectureValues
	snapshotID  string
	tags        map[string]string
	uefiData    string // base64 UEFI variable store with Secure Boot keys, optional
}

// rootDevice is where the image's root volume attaches.
const rootDevice = "/dev/xvda"

// waitSnapshot polls until the snapshot is completed, failed or ctx ends.
func waitSnapshot(ctx context.Context, api EC2API, id string, every time.Duration) error {
	for {
		out, err := api.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err != nil {
			return fmt.Errorf("aws: DescribeSnapshots %s: %w", id, err)
		}
		if len(out.Snapshots) != 1 {
			return fmt.Errorf("aws: DescribeSnapshots %s: %d snapshots in the answer", id, len(out.Snapshots))
		}
		switch s := out.Snapshots[0]; s.State {
		case ec2types.SnapshotStateCompleted:
			return nil
		case ec2types.SnapshotStateError:
			return fmt.Errorf("%w: snapshot %s: %s", ErrOperation, id, awsv2.ToString(s.StateMessage))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// registerImage registers an AMI from the snapshot with the boot settings
// hardvm images need: UEFI, ENA, IMDSv2 only, TPM 2.0, NVMe root on gp3.
func registerImage(ctx context.Context, api EC2API, s imageSpec) (string, error) {
	tags := ec2Tags(s.tags)
	in := &ec2.RegisterImageInput{
		Name:               awsv2.String(s.name),
		Description:        awsv2.String(s.description),
		Architecture:       s.arch,
		BootMode:           ec2types.BootModeValuesUefi,
		EnaSupport:         awsv2.Bool(true),
		ImdsSupport:        ec2types.ImdsSupportValuesV20,
		TpmSupport:         ec2types.TpmSupportValuesV20,
		RootDeviceName:     awsv2.String(rootDevice),
		VirtualizationType: awsv2.String("hvm"),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{
			DeviceName: awsv2.String(rootDevice),
			Ebs: &ec2types.EbsBlockDevice{
				SnapshotId:          awsv2.String(s.snapshotID),
				VolumeType:          ec2types.VolumeTypeGp3,
				DeleteOnTermination: awsv2.Bool(true),
			},
		}},
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeImage, Tags: tags},
		},
	}
	if s.uefiData != "" {
		in.UefiData = awsv2.String(s.uefiData)
	}
	out, err := api.RegisterImage(ctx, in)
	if err != nil {
		return "", fmt.Errorf("aws: RegisterImage %s: %w", s.name, err)
	}
	return awsv2.ToString(out.ImageId), nil
}

// findImage returns the id of an image with the given name owned by the
// caller, or "" if there is none: registration is idempotent by name.
func findImage(ctx context.Context, api EC2API, name string) (string, error) {
	out, err := api.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: awsv2.String("name"), Values: []string{name}}},
	})
	if err != nil {
		return "", fmt.Errorf("aws: DescribeImages %s: %w", name, err)
	}
	for _, img := range out.Images {
		if awsv2.ToString(img.Name) == name {
			return awsv2.ToString(img.ImageId), nil
		}
	}
	return "", nil
}

// share grants launch permission to accounts.
func share(ctx context.Context, api EC2API, imageID string, accounts []string) error {
	if len(accounts) == 0 {
		return nil
	}
	var add []ec2types.LaunchPermission
	for _, a := range accounts {
		add = append(add, ec2types.LaunchPermission{UserId: awsv2.String(a)})
	}
	_, err := api.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
		ImageId:          awsv2.String(imageID),
		LaunchPermission: &ec2types.LaunchPermissionModifications{Add: add},
	})
	if err != nil {
		return fmt.Errorf("aws: share %s with %v: %w", imageID, accounts, err)
	}
	return nil
}

// deprecate sets the image's deprecation time.
func deprecate(ctx context.Context, api EC2API, imageID string, at time.Time) error {
	_, err := api.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{
		ImageId:     awsv2.String(imageID),
		DeprecateAt: awsv2.Time(at.UTC()),
	})
	if err != nil {
		return fmt.Errorf("aws: EnableImageDeprecation %s: %w", imageID, err)
	}
	return nil
}

// deleteImage deregisters the image and deletes its snapshots, ignoring
// what is already gone.
func deleteImage(ctx context.Context, api EC2API, imageID, snapshotID string) error {
	var errs []error
	if imageID != "" {
		if _, err := api.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: awsv2.String(imageID)}); err != nil && !notFound(err) {
			errs = append(errs, fmt.Errorf("aws: DeregisterImage %s: %w", imageID, err))
		}
	}
	if snapshotID != "" {
		if _, err := api.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: awsv2.String(snapshotID)}); err != nil && !notFound(err) {
			errs = append(errs, fmt.Errorf("aws: DeleteSnapshot %s: %w", snapshotID, err))
		}
	}
	return errors.Join(errs...)
}

func notFound(err error) bool {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidSnapshot.NotFound":
			return true
		}
	}
	return false
}

func ec2Tags(m map[string]string) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range sortedKeys(m) {
		out = append(out, ec2types.Tag{Key: awsv2.String(k), Value: awsv2.String(m[k])})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
