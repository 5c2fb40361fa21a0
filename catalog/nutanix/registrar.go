package nutanix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// Config says which Prism Central to publish to and how to log in.
type Config struct {
	// Endpoint is Prism Central's base URL, e.g. https://pc.example:9440.
	Endpoint string
	// Username and Password are the basic-auth credentials (from the
	// caller's secret store; they are never logged).
	Username, Password string
	// HTTPClient is the client to use (its TLS settings, timeouts);
	// http.DefaultClient if nil.
	HTTPClient *http.Client
}

// Registrar uploads qcow2 or raw disks as Nutanix images. It implements
// catalog.Registrar and catalog.FormatAccepter.
type Registrar struct {
	c *client
	o options
}

// Option configures a Registrar.
type Option func(*options) error

type options struct {
	poll     time.Duration
	logger   *slog.Logger
	progress progress.Reporter
}

// WithPollInterval sets how often tasks are polled (default 2s).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: poll interval %v", ErrOption, d)
		}
		o.poll = d
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithProgress reports upload progress, stage "nutanix upload <file
// name>", in bytes of the file.
func WithProgress(p progress.Reporter) Option {
	return func(o *options) error { o.progress = p; return nil }
}

// New returns a Registrar for the Prism Central of cfg.
func New(cfg Config, opts ...Option) (*Registrar, error) {
	o := options{poll: 2 * time.Second, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint %q (want https://host:9440)", ErrOption, cfg.Endpoint)
	}
	if cfg.Username == "" {
		return nil, fmt.Errorf("%w: no username", ErrOption)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Registrar{c: &client{base: strings.TrimSuffix(cfg.Endpoint, "/"), user: cfg.Username, password: cfg.Password, http: hc, retries: 4, backoff: 200 * time.Millisecond}, o: o}, nil
}

// Target returns vm.Nutanix.
func (r *Registrar) Target() vm.Cloud { return vm.Nutanix }

// Accepts reports whether the registrar takes artifacts of format f:
// qcow2 (the default: it stores no holes) and raw.
func (r *Registrar) Accepts(f vm.DiskFormat) bool { return f == vm.FormatQCOW2 || f == vm.FormatRaw }

// ImageName is the Nutanix image name of a build.
func ImageName(ref vm.Ref) string {
	v := ref.Variant
	if ref.FIPS {
		v += "-fips"
	}
	return fmt.Sprintf("hardvm-%s-%s-%s-%s", v, ref.Arch, ref.Kernel, ref.Version)
}

// Description is the image description: the Ref and the file's digest,
// so that the catalog finds the image again (images have no labels that
// need no setup; categories must be created by an administrator first).
func Description(ref vm.Ref, d digest.Digest) string {
	return "hardvm-ref=" + ref.String() + " hardvm-digest=" + d.String()
}

type imageEntity struct {
	Metadata struct {
		UUID string `json:"uuid"`
	} `json:"metadata"`
	Spec struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"spec"`
	Status struct {
		State            string `json:"state"`
		ExecutionContext struct {
			TaskUUID any `json:"task_uuid"` // a string, or a list of strings
		} `json:"execution_context"`
	} `json:"status"`
}

func taskUUID(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		if len(t) > 0 {
			s, _ := t[0].(string)
			return s
		}
	}
	return ""
}

// find returns the image named name, if any.
func (r *Registrar) find(ctx context.Context, name string) (*imageEntity, error) {
	var out struct {
		Entities []imageEntity `json:"entities"`
	}
	err := r.c.do(ctx, http.MethodPost, "/api/nutanix/v3/images/list", true,
		jsonBody(map[string]any{"kind": "image", "filter": "name==" + name, "length": 20}), &out)
	if err != nil {
		return nil, err
	}
	for i := range out.Entities {
		if out.Entities[i].Spec.Name == name {
			return &out.Entities[i], nil
		}
	}
	return nil, nil
}

// Register checks a and its digest before it sends anything, creates the
// image (DISK_IMAGE, no source URI, its SHA-256 checksum, the Ref and
// digest in its description), waits for the task, and streams the file
// into it, hashing it again on the way: the last bytes are sent only once
// the digest is verified, so Prism never completes an upload whose digest
// is wrong, even of a file changed since the check (and checks the
// checksum itself). An artifact that breaks a rule or whose file does not have its
// digest is refused with a *catalog.ArtifactError (catalog.ErrRejected).
// Registering the same artifact again returns the existing image. On
// failure the image is deleted.
func (r *Registrar) Register(ctx context.Context, a artifact.Artifact, e catalog.Entry) (loc catalog.Location, err error) {
	src, err := catalog.OpenArtifact(a, string(vm.Nutanix), r.o.progress)
	if err != nil {
		return catalog.Location{}, err
	}
	defer src.Close()
	if _, err := check(src); err != nil {
		return catalog.Location{}, err
	}
	// Creating the image is the first thing Prism keeps: verify the
	// digest before it, reading the file once (holes are hashed, not
	// read). The upload verifies every byte it sends again, for a file
	// that changes in between.
	if err := verifyDigest(ctx, a); err != nil {
		return catalog.Location{}, err
	}
	name := ImageName(e.Ref)
	desc := Description(e.Ref, a.Digest)
	if old, err := r.find(ctx, name); err != nil {
		return catalog.Location{}, err
	} else if old != nil {
		if old.Spec.Description != desc {
			return catalog.Location{}, fmt.Errorf("%w: image %s exists with description %q", catalog.ErrConflict, name, old.Spec.Description)
		}
		if old.Status.State == "COMPLETE" {
			return r.location(old.Metadata.UUID, a), nil
		}
		// A leftover of an interrupted upload: start again.
		if err := r.delete(ctx, old.Metadata.UUID); err != nil {
			return catalog.Location{}, err
		}
	}
	imageType := "DISK_IMAGE"
	arch := "X86_64"
	if e.Ref.Arch == vm.Aarch64 {
		arch = "AARCH64"
	}
	var created imageEntity
	err = r.c.do(ctx, http.MethodPost, "/api/nutanix/v3/images", false, jsonBody(map[string]any{
		"api_version": "3.1.0",
		"metadata":    map[string]any{"kind": "image"},
		"spec": map[string]any{
			"name":        name,
			"description": desc,
			"resources": map[string]any{
				"image_type":   imageType,
				"architecture": arch,
				"checksum":     map[string]string{"checksum_algorithm": "SHA_256", "checksum_value": a.Digest.Encoded()},
			},
		},
	}), &created)
	if err != nil {
		return catalog.Location{}, err
	}
	uuid := created.Metadata.UUID
	if uuid == "" {
		return catalog.Location{}, fmt.Errorf("nutanix: create image %s: no uuid in the answer", name)
	}
	defer func() {
		if err != nil {
			if derr := r.delete(context.WithoutCancel(ctx), uuid); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	if t := taskUUID(created.Status.ExecutionContext.TaskUUID); t != "" {
		if err := r.c.wait(ctx, t, r.o.poll); err != nil {
			return catalog.Location{}, fmt.Errorf("nutanix: create image %s: %w", name, err)
		}
	}
	if err := r.upload(ctx, uuid, src); err != nil {
		return catalog.Location{}, err
	}
	return r.location(uuid, a), nil
}

// verifyDigest reads a's file once and checks its digest, without
// reporting progress (the upload reports it).
func verifyDigest(ctx context.Context, a artifact.Artifact) error {
	f, err := catalog.OpenArtifact(a, string(vm.Nutanix), nil)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Chunks(ctx, catalog.ChunkOptions{Size: 1 << 20, Workers: 1, Sparse: true, Align: 4096},
		func(context.Context, int64, []byte) error { return nil })
}

// upload streams src into the image with one PUT per attempt (a retry
// starts from the beginning of the file, with a new reader that hashes
// again); the server checks the X-Nutanix-Checksum headers, and the
// reader the digest. A rejected file is not retried.
func (r *Registrar) upload(ctx context.Context, uuid string, src *catalog.ArtifactFile) error {
	var out struct {
		Status struct {
			ExecutionContext struct {
				TaskUUID any `json:"task_uuid"`
			} `json:"execution_context"`
		} `json:"status"`
	}
	a := src.Artifact()
	err := r.c.do(ctx, http.MethodPut, "/api/nutanix/v3/images/"+uuid+"/file", true, func() (io.Reader, int64, http.Header) {
		return src.Reader(), src.Size(), http.Header{
			"Content-Type":             {"application/octet-stream"},
			"X-Nutanix-Checksum-Type":  {"SHA_256"},
			"X-Nutanix-Checksum-Bytes": {a.Digest.Encoded()},
		}
	}, &out)
	if err != nil {
		return fmt.Errorf("nutanix: upload %s: %w", a.Name(), err)
	}
	if t := taskUUID(out.Status.ExecutionContext.TaskUUID); t != "" {
		if err := r.c.wait(ctx, t, r.o.poll); err != nil {
			return fmt.Errorf("nutanix: upload %s: %w", a.Name(), err)
		}
	}
	return nil
}

func (r *Registrar) location(uuid string, a artifact.Artifact) catalog.Location {
	return catalog.Location{Target: vm.Nutanix, ID: uuid, URI: r.c.base + "/api/nutanix/v3/images/" + uuid, Format: a.Format, Digest: a.Digest}
}

// delete deletes an image and waits for the task; one already gone is not
// an error.
func (r *Registrar) delete(ctx context.Context, uuid string) error {
	var out imageEntity
	err := r.c.do(ctx, http.MethodDelete, "/api/nutanix/v3/images/"+uuid, true, noBody, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nutanix: delete image %s: %w", uuid, err)
	}
	if t := taskUUID(out.Status.ExecutionContext.TaskUUID); t != "" {
		return r.c.wait(ctx, t, r.o.poll)
	}
	return nil
}

// Deregister deletes the image at loc (ID is its uuid). An image already
// gone is not an error.
func (r *Registrar) Deregister(ctx context.Context, loc catalog.Location) error {
	if loc.Target != "" && loc.Target != vm.Nutanix || loc.ID == "" || strings.ContainsAny(loc.ID, "/?#") {
		return fmt.Errorf("%w: %s %q", ErrLocation, loc.Target, loc.ID)
	}
	return r.delete(ctx, loc.ID)
}
