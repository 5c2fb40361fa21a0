package gcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	compute "google.golang.org/api/compute/v1"
	"google.golang.org/api/googleapi"
)

// guestOSFeatures are the features hardvm images support on GCE: UEFI boot
// (required for Shielded VM), gVNIC and multi-queue virtio-scsi.
var guestOSFeatures = []string{"UEFI_COMPATIBLE", "GVNIC", "VIRTIO_SCSI_MULTIQUEUE", "SEV_CAPABLE"}

// imageSpec is what insertImage needs.
type imageSpec struct {
	name, family, description string
	arch                      string // X86_64 or ARM64
	source                    string // https://storage.googleapis.com/BUCKET/OBJECT
	labels                    map[string]string
	dbCertDER                 []byte // Secure Boot db certificate, optional
	storageLocations          []string
}

// insertImage creates the image and waits for the operation.
func insertImage(ctx context.Context, svc *compute.Service, project string, s imageSpec, every time.Duration) (*compute.Image, error) {
	img := &compute.Image{
		Name:             s.name,
		Family:           s.family,
		Description:      s.description,
		Architecture:     s.arch,
		RawDisk:          &compute.ImageRawDisk{Source: s.source},
		Labels:           s.labels,
		StorageLocations: s.storageLocations,
	}
	for _, f := range guestOSFeatures {
		img.GuestOsFeatures = append(img.GuestOsFeatures, &compute.GuestOsFeature{Type: f})
	}
	if len(s.dbCertDER) > 0 {
		img.ShieldedInstanceInitialState = &compute.InitialStateConfig{
			Dbs: []*compute.FileContentBuffer{{Content: encodeBase64(s.dbCertDER), FileType: "X509"}},
		}
	}
	op, err := svc.Images.Insert(project, img).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("gcp: images.insert %s: %w", s.name, err)
	}
	if err := wait(ctx, svc, project, op, every); err != nil {
		return nil, fmt.Errorf("gcp: images.insert %s: %w", s.name, err)
	}
	got, err := svc.Images.Get(project, s.name).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("gcp: images.get %s: %w", s.name, err)
	}
	return got, nil
}

// wait polls a global operation until it is DONE and reports its error
// (ErrOperation).
func wait(ctx context.Context, svc *compute.Service, project string, op *compute.Operation, every time.Duration) error {
	for op.Status != "DONE" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
		var err error
		op, err = svc.GlobalOperations.Get(project, op.Name).Context(ctx).Do()
		if err != nil {
			return fmt.Errorf("operation %s: %w", op.Name, err)
		}
	}
	if op.Error != nil && len(op.Error.Errors) > 0 {
		e := op.Error.Errors[0]
		return fmt.Errorf("%w: %s: %s: %s", ErrOperation, op.Name, e.Code, e.Message)
	}
	return nil
}

// deprecateImage marks the image DEPRECATED with a replacement.
func deprecateImage(ctx context.Context, svc *compute.Service, project, name, replacement string, at, eol time.Time, every time.Duration) error {
	st := &compute.DeprecationStatus{State: "DEPRECATED", Deprecated: at.UTC().Format(time.RFC3339), Replacement: replacement}
	if !eol.IsZero() {
		st.Obsolete = eol.UTC().Format(time.RFC3339)
	}
	op, err := svc.Images.Deprecate(project, name, st).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("gcp: images.deprecate %s: %w", name, err)
	}
	return wait(ctx, svc, project, op, every)
}

// shareImage grants roles/compute.imageUser to members.
func shareImage(ctx context.Context, svc *compute.Service, project, name string, members []string) error {
	if len(members) == 0 {
		return nil
	}
	pol, err := svc.Images.GetIamPolicy(project, name).Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("gcp: images.getIamPolicy %s: %w", name, err)
	}
	pol.Bindings = append(pol.Bindings, &compute.Binding{Role: "roles/compute.imageUser", Members: members})
	if _, err := svc.Images.SetIamPolicy(project, name, &compute.GlobalSetPolicyRequest{Policy: pol}).Context(ctx).Do(); err != nil {
		return fmt.Errorf("gcp: images.setIamPolicy %s: %w", name, err)
	}
	return nil
}

// deleteImage deletes the image, ignoring one that does not exist.
func deleteImage(ctx context.Context, svc *compute.Service, project, name string, every time.Duration) error {
	op, err := svc.Images.Delete(project, name).Context(ctx).Do()
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gcp: images.delete %s: %w", name, err)
	}
	return wait(ctx, svc, project, op, every)
}

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}
