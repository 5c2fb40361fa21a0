package gcp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// guestOSFeatures are the features hardvm images support on GCE: UEFI boot
// (required for Shielded VM), gVNIC and multi-queue virtio-scsi.
var guestOSFeatures = []string{"UEFI_COMPATIBLE", "GVNIC", "VIRTIO_SCSI_MULTIQUEUE", "SEV_CAPABLE"}

// image is the part of the Compute Engine image resource (compute/v1
// Image) the registrar writes and reads.
type image struct {
	Name                         string              `json:"name,omitempty"`
	Family                       string              `json:"family,omitempty"`
	Description                  string              `json:"description,omitempty"`
	Architecture                 string              `json:"architecture,omitempty"`
	RawDisk                      *imageRawDisk       `json:"rawDisk,omitempty"`
	Labels                       map[string]string   `json:"labels,omitempty"`
	StorageLocations             []string            `json:"storageLocations,omitempty"`
	GuestOsFeatures              []guestOsFeature    `json:"guestOsFeatures,omitempty"`
	ShieldedInstanceInitialState *initialStateConfig `json:"shieldedInstanceInitialState,omitempty"`
	Status                       string              `json:"status,omitempty"`
	SelfLink                     string              `json:"selfLink,omitempty"`
	Deprecated                   *deprecationStatus  `json:"deprecated,omitempty"`
}

type imageRawDisk struct {
	Source string `json:"source,omitempty"`
}

type guestOsFeature struct {
	Type string `json:"type"`
}

type initialStateConfig struct {
	Dbs []fileContentBuffer `json:"dbs,omitempty"`
}

type fileContentBuffer struct {
	Content  string `json:"content"` // base64
	FileType string `json:"fileType,omitempty"`
}

// deprecationStatus is compute/v1 DeprecationStatus.
type deprecationStatus struct {
	State       string `json:"state,omitempty"`
	Deprecated  string `json:"deprecated,omitempty"`
	Obsolete    string `json:"obsolete,omitempty"`
	Deleted     string `json:"deleted,omitempty"`
	Replacement string `json:"replacement,omitempty"`
}

// operation is the part of compute/v1 Operation the registrar reads.
type operation struct {
	Name   string `json:"name"`
	Status string `json:"status"` // PENDING, RUNNING, DONE
	Error  *struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	} `json:"error,omitempty"`
	HTTPErrorStatusCode int    `json:"httpErrorStatusCode,omitempty"`
	HTTPErrorMessage    string `json:"httpErrorMessage,omitempty"`
}

// imageSpec is what insertImage needs.
type imageSpec struct {
	name, family, description string
	arch                      string // X86_64 or ARM64
	source                    string // https://storage.googleapis.com/BUCKET/OBJECT
	labels                    map[string]string
	dbCertDER                 []byte // Secure Boot db certificate, optional
	storageLocations          []string
}

func (cl *client) imagesURL(project string) string {
	return cl.compute + "/projects/" + url.PathEscape(project) + "/global/images"
}

func (cl *client) imageURL(project, name string) string {
	return cl.imagesURL(project) + "/" + url.PathEscape(name)
}

// getImage is images.get.
func getImage(ctx context.Context, cl *client, project, name string) (*image, error) {
	var img image
	if err := cl.do(ctx, call{method: http.MethodGet, url: cl.imageURL(project, name), out: &img, idempotent: true}); err != nil {
		return nil, err
	}
	return &img, nil
}

// insertImage creates the image and waits for the operation.
func insertImage(ctx context.Context, cl *client, project string, s imageSpec, every time.Duration) (*image, error) {
	img := &image{
		Name:             s.name,
		Family:           s.family,
		Description:      s.description,
		Architecture:     s.arch,
		RawDisk:          &imageRawDisk{Source: s.source},
		Labels:           s.labels,
		StorageLocations: s.storageLocations,
	}
	for _, f := range guestOSFeatures {
		img.GuestOsFeatures = append(img.GuestOsFeatures, guestOsFeature{Type: f})
	}
	if len(s.dbCertDER) > 0 {
		img.ShieldedInstanceInitialState = &initialStateConfig{
			Dbs: []fileContentBuffer{{Content: encodeBase64(s.dbCertDER), FileType: "X509"}},
		}
	}
	var op operation
	if err := cl.do(ctx, call{method: http.MethodPost, url: withQuery(cl.imagesURL(project), "requestId", requestID()), in: img, out: &op, idempotent: true}); err != nil {
		return nil, fmt.Errorf("gcp: images.insert %s: %w", s.name, err)
	}
	if err := wait(ctx, cl, project, &op, every); err != nil {
		return nil, fmt.Errorf("gcp: images.insert %s: %w", s.name, err)
	}
	got, err := getImage(ctx, cl, project, s.name)
	if err != nil {
		return nil, fmt.Errorf("gcp: images.get %s: %w", s.name, err)
	}
	return got, nil
}

// wait polls a global operation (globalOperations.get) until it is DONE
// and reports its error (ErrOperation).
func wait(ctx context.Context, cl *client, project string, op *operation, every time.Duration) error {
	if op.Name == "" {
		return fmt.Errorf("%w: an operation without a name", ErrResponse)
	}
	name := op.Name
	for op.Status != "DONE" {
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		var next operation
		u := cl.compute + "/projects/" + url.PathEscape(project) + "/global/operations/" + url.PathEscape(name)
		if err := cl.do(ctx, call{method: http.MethodGet, url: u, out: &next, idempotent: true}); err != nil {
			return fmt.Errorf("operation %s: %w", cleanMessage(name), err)
		}
		op = &next
	}
	return operationError(op)
}

// operationError is the error a DONE operation carries, an ErrOperation.
func operationError(op *operation) error {
	if op.Error != nil && len(op.Error.Errors) > 0 {
		e := op.Error.Errors[0]
		return fmt.Errorf("%w: %s: %s: %s", ErrOperation, cleanMessage(op.Name), cleanMessage(e.Code), cleanMessage(e.Message))
	}
	if op.HTTPErrorStatusCode >= 400 {
		return fmt.Errorf("%w: %s: HTTP %d: %s", ErrOperation, cleanMessage(op.Name), op.HTTPErrorStatusCode, cleanMessage(op.HTTPErrorMessage))
	}
	return nil
}

// deprecateImage marks the image DEPRECATED with a replacement.
func deprecateImage(ctx context.Context, cl *client, project, name, replacement string, at, eol time.Time, every time.Duration) error {
	st := &deprecationStatus{State: "DEPRECATED", Deprecated: at.UTC().Format(time.RFC3339), Replacement: replacement}
	if !eol.IsZero() {
		st.Obsolete = eol.UTC().Format(time.RFC3339)
	}
	var op operation
	u := withQuery(cl.imageURL(project, name)+"/deprecate", "requestId", requestID())
	if err := cl.do(ctx, call{method: http.MethodPost, url: u, in: st, out: &op, idempotent: true}); err != nil {
		return fmt.Errorf("gcp: images.deprecate %s: %w", name, err)
	}
	return wait(ctx, cl, project, &op, every)
}

// shareImage grants roles/compute.imageUser to members. The policy is
// read and written back whole (fields this package does not know
// included), with its etag, so a concurrent change is not lost: the
// server refuses a stale etag.
func shareImage(ctx context.Context, cl *client, project, name string, members []string) error {
	if len(members) == 0 {
		return nil
	}
	var pol map[string]json.RawMessage
	if err := cl.do(ctx, call{method: http.MethodGet, url: cl.imageURL(project, name) + "/getIamPolicy", out: &pol, idempotent: true}); err != nil {
		return fmt.Errorf("gcp: images.getIamPolicy %s: %w", name, err)
	}
	if pol == nil {
		return fmt.Errorf("gcp: images.getIamPolicy %s: %w: not a policy", name, ErrResponse)
	}
	var bindings []json.RawMessage
	if b, ok := pol["bindings"]; ok {
		if err := json.Unmarshal(b, &bindings); err != nil {
			return fmt.Errorf("gcp: images.getIamPolicy %s: %w: bindings: %v", name, ErrResponse, err)
		}
	}
	add, _ := json.Marshal(map[string]any{"role": "roles/compute.imageUser", "members": members})
	bindings = append(bindings, add)
	pol["bindings"], _ = json.Marshal(bindings)
	// Not retried: a retry after a lost answer would be refused (its etag
	// is stale by then) although the policy was set.
	if err := cl.do(ctx, call{method: http.MethodPost, url: cl.imageURL(project, name) + "/setIamPolicy", in: map[string]any{"policy": pol}}); err != nil {
		return fmt.Errorf("gcp: images.setIamPolicy %s: %w", name, err)
	}
	return nil
}

// deleteImage deletes the image, ignoring one that does not exist.
func deleteImage(ctx context.Context, cl *client, project, name string, every time.Duration) error {
	var op operation
	err := cl.do(ctx, call{method: http.MethodDelete, url: withQuery(cl.imageURL(project, name), "requestId", requestID()), out: &op, idempotent: true})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gcp: images.delete %s: %w", name, err)
	}
	return wait(ctx, cl, project, &op, every)
}
