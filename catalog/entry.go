package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// Entry is one published image: which build it is, the files it consists
// of, the evidence that vouches for it, what it contains, where it is
// registered and whether it is deprecated. Its JSON form is stable.
type Entry struct {
	// Ref names the build; its Digest (of the raw disk) is required.
	Ref vm.Ref `json:"ref"`
	// Artifacts are the disk files of the build, one per format.
	Artifacts []Artifact `json:"artifacts"`
	// Attachments are the SBOM, provenance and signature bundle.
	Attachments []Attachment `json:"attachments,omitempty"`
	// Packages is the package list, sorted by name.
	Packages []Package `json:"packages,omitempty"`
	// Kernel is the version of the kernel package.
	Kernel string `json:"kernel,omitempty"`
	// InstalledSize is the sum of the packages' installed sizes, in bytes.
	InstalledSize int64 `json:"installed_size,omitempty"`
	// Locations say where registrars made the image available.
	Locations []Location `json:"locations,omitempty"`
	// Published is when the entry was published (by default, the build's
	// SourceDateEpoch).
	Published time.Time `json:"published"`
	// Deprecation is set once the image is deprecated.
	Deprecation *Deprecation `json:"deprecation,omitempty"`
}

// Artifact is one disk file of an entry.
type Artifact struct {
	Format      vm.DiskFormat `json:"format"`
	Name        string        `json:"name"`
	Size        int64         `json:"size"`
	VirtualSize int64         `json:"virtual_size,omitempty"`
	Digest      digest.Digest `json:"digest"`
	RootHash    string        `json:"root_hash,omitempty"`
}

// AttachmentKind says what an attachment is.
type AttachmentKind string

// The kinds of attachments an entry carries. Bundle is the signed
// provenance; SBOMBundle and FIPSBundle are the signed SBOM and FIPS report
// statements, which a verifier needs beside it (the default policy requires
// a signed SBOM). SBOM, Provenance and FIPSReport are the unsigned copies
// for people.
const (
	SBOM       AttachmentKind = "sbom"        // an SPDX document
	Provenance AttachmentKind = "provenance"  // a SLSA provenance statement
	Bundle     AttachmentKind = "bundle"      // a Sigstore bundle: the signed provenance
	SBOMBundle AttachmentKind = "sbom-bundle" // a Sigstore bundle: the signed SBOM statement
	FIPSReport AttachmentKind = "fips-report" // a FIPS report (fips.Report as JSON)
	FIPSBundle AttachmentKind = "fips-bundle" // a Sigstore bundle: the signed FIPS report statement
)

// AttachmentKinds returns every attachment kind, in a stable order.
func AttachmentKinds() []AttachmentKind {
	return []AttachmentKind{SBOM, Provenance, Bundle, SBOMBundle, FIPSReport, FIPSBundle}
}

// Attachment is a file published with an image: its SBOM, its provenance,
// its signature bundle.
type Attachment struct {
	Kind      AttachmentKind `json:"kind"`
	MediaType string         `json:"media_type"`
	Digest    digest.Digest  `json:"digest"`
	Size      int64          `json:"size"`
	// Path is the local file, when publishing. It is not recorded.
	Path string `json:"-"`
}

// DefaultMediaType returns the usual media type of an attachment kind.
func (k AttachmentKind) DefaultMediaType() string {
	switch k {
	case SBOM:
		return "application/spdx+json"
	case Provenance:
		return "application/vnd.in-toto+json"
	case Bundle, SBOMBundle, FIPSBundle:
		return "application/vnd.dev.sigstore.bundle.v0.3+json"
	case FIPSReport:
		return "application/json"
	}
	return "application/octet-stream"
}

// Package is one installed package, as a delta needs it.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Origin  string `json:"origin,omitempty"`
}

// Location is where one registrar made one artifact available: a cloud
// image id in a region, a registry reference, a file on a host.
type Location struct {
	Target vm.Cloud      `json:"target"`
	Region string        `json:"region,omitempty"`
	ID     string        `json:"id"`            // what the target calls it: ami-…, a path, a digest reference
	URI    string        `json:"uri,omitempty"` // how to reach it, when it has a URI
	Format vm.DiskFormat `json:"format,omitempty"`
	Digest digest.Digest `json:"digest,omitempty"` // digest of the artifact registered
	// Copies are the same image copied to other regions by the registrar
	// (e.g. AMIs copied with CopyImage); Deregister removes them too.
	Copies []Location `json:"copies,omitempty"`
}

// Deprecation records that an image should no longer be used.
type Deprecation struct {
	Time        time.Time `json:"time"`                  // when it was deprecated
	Replacement *vm.Ref   `json:"replacement,omitempty"` // the image to move to
	EndOfLife   time.Time `json:"end_of_life,omitzero"`  // after this, it may be deregistered
	Reason      string    `json:"reason,omitempty"`
}

// DeprecatedAt reports whether e is deprecated at time t (the zero time
// meaning now, whatever is recorded).
func (e *Entry) DeprecatedAt(t time.Time) bool {
	if e.Deprecation == nil {
		return false
	}
	return t.IsZero() || !e.Deprecation.Time.After(t)
}

// Regions returns the distinct regions of e's locations (and their
// copies), sorted.
func (e *Entry) Regions() []string {
	var rs []string
	for _, l := range e.Locations {
		for _, c := range append([]Location{l}, l.Copies...) {
			if c.Region != "" && !slices.Contains(rs, c.Region) {
				rs = append(rs, c.Region)
			}
		}
	}
	slices.Sort(rs)
	return rs
}

// Artifact returns e's artifact of format f.
func (e *Entry) Artifact(f vm.DiskFormat) (Artifact, bool) {
	for _, a := range e.Artifacts {
		if a.Format == f {
			return a, true
		}
	}
	return Artifact{}, false
}

// Attachment returns e's attachment of kind k.
func (e *Entry) Attachment(k AttachmentKind) (Attachment, bool) {
	for _, a := range e.Attachments {
		if a.Kind == k {
			return a, true
		}
	}
	return Attachment{}, false
}

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,255}$`)
)

// ValidDigest reports whether d is a sha256:<64 hex> digest.
func ValidDigest(d digest.Digest) bool { return d.Validate() == nil && d.Algorithm() == digest.SHA256 }

// Validate checks that e is complete and well formed. It reports every
// problem at once.
func (e *Entry) Validate() error {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if err := e.Ref.Validate(); err != nil {
		bad("ref %s: %v", e.Ref, err)
	}
	if e.Ref.Digest == "" {
		bad("ref %s has no digest", e.Ref)
	}
	if len(e.Artifacts) == 0 {
		bad("no artifacts")
	}
	seen := map[vm.DiskFormat]bool{}
	for i, a := range e.Artifacts {
		if !a.Format.Valid() {
			bad("artifacts[%d]: format %q", i, a.Format)
		}
		if seen[a.Format] {
			bad("artifacts[%d]: format %s listed twice", i, a.Format)
		}
		seen[a.Format] = true
		if !nameRe.MatchString(a.Name) || a.Name == "." || a.Name == ".." {
			bad("artifacts[%d]: name %q (want a plain file name)", i, a.Name)
		}
		if !ValidDigest(a.Digest) {
			bad("artifacts[%d] %s: digest %q (want sha256:<64 hex>)", i, a.Name, a.Digest)
		}
		if a.Size < 0 || a.VirtualSize < 0 {
			bad("artifacts[%d] %s: negative size", i, a.Name)
		}
	}
	kinds := map[AttachmentKind]bool{}
	for i, a := range e.Attachments {
		if !slices.Contains(AttachmentKinds(), a.Kind) {
			bad("attachments[%d]: kind %q (want one of %v)", i, a.Kind, AttachmentKinds())
		}
		if kinds[a.Kind] {
			bad("attachments[%d]: kind %s listed twice", i, a.Kind)
		}
		kinds[a.Kind] = true
		if !ValidDigest(a.Digest) {
			bad("attachments[%d] %s: digest %q", i, a.Kind, a.Digest)
		}
		if a.MediaType == "" || strings.ContainsAny(a.MediaType, " \t\n") {
			bad("attachments[%d] %s: media type %q", i, a.Kind, a.MediaType)
		}
	}
	if !slices.IsSortedFunc(e.Packages, func(a, b Package) int { return strings.Compare(a.Name, b.Name) }) {
		bad("packages are not sorted by name")
	}
	for i := 1; i < len(e.Packages); i++ {
		if e.Packages[i].Name == e.Packages[i-1].Name {
			bad("package %s listed twice", e.Packages[i].Name)
		}
	}
	for i, l := range e.Locations {
		if l.Target == "" || l.ID == "" {
			bad("locations[%d]: target and id are required", i)
		}
	}
	if e.Published.IsZero() {
		bad("no published time")
	}
	if d := e.Deprecation; d != nil {
		if d.Time.IsZero() {
			bad("deprecation has no time")
		}
		if d.Replacement != nil {
			if err := d.Replacement.Validate(); err != nil {
				bad("deprecation replacement %s: %v", d.Replacement, err)
			}
			if d.Replacement.Stream() == e.Ref.Stream() && d.Replacement.Version == e.Ref.Version {
				bad("deprecation replacement is the image itself")
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: entry %s: %s", ErrInvalid, e.Ref, strings.Join(errs, "; "))
	}
	return nil
}

// NewEntry makes an entry from a build's outputs: its artifacts (with
// digests), its lock (package list and kernel) and its attachments. The
// Ref is taken from the artifacts, which must agree; its digest is the raw
// disk's unless the Ref already carries one.
func NewEntry(lock *artifact.Lock, artifacts []artifact.Artifact, attachments ...Attachment) (Entry, error) {
	if len(artifacts) == 0 {
		return Entry{}, fmt.Errorf("%w: no artifacts", ErrInvalid)
	}
	e := Entry{Ref: artifacts[0].Ref, Attachments: attachments}
	for _, a := range artifacts {
		if a.Ref.Stream() != e.Ref.Stream() || a.Ref.Version != e.Ref.Version {
			return Entry{}, fmt.Errorf("%w: artifact %s is of %s, not %s", ErrInvalid, a.Name(), a.Ref, e.Ref)
		}
		if a.Ref.Digest != "" && e.Ref.Digest == "" {
			e.Ref.Digest = a.Ref.Digest
		}
		e.Artifacts = append(e.Artifacts, ArtifactOf(a))
	}
	if e.Ref.Digest == "" {
		if raw, ok := e.Artifact(vm.FormatRaw); ok {
			e.Ref.Digest = raw.Digest
		}
	}
	if lock != nil {
		e.Packages, e.InstalledSize = PackagesOf(lock)
		if k, ok := lock.Kernel(); ok {
			e.Kernel = k.Version
		}
	}
	e.Published = e.Ref.Version.Time()
	return e, e.Validate()
}

// ArtifactOf returns the catalog record of a build artifact.
func ArtifactOf(a artifact.Artifact) Artifact {
	return Artifact{Format: a.Format, Name: a.Name(), Size: a.Size, VirtualSize: a.VirtualSize, Digest: a.Digest, RootHash: a.RootHash}
}

// PackagesOf returns the sorted package list of a lock and the sum of
// installed sizes.
func PackagesOf(l *artifact.Lock) ([]Package, int64) {
	ps := make([]Package, 0, len(l.Packages))
	var size int64
	for _, p := range l.Packages {
		ps = append(ps, Package{Name: p.Name, Version: p.Version, Origin: p.Origin})
		size += p.InstalledSize
	}
	slices.SortFunc(ps, func(a, b Package) int { return strings.Compare(a.Name, b.Name) })
	return ps, size
}
