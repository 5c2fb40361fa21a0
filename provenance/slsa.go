package provenance

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SLSAPredicateType is the predicate type of SLSA v1 provenance.
const SLSAPredicateType = "https://slsa.dev/provenance/v1"

// Subject annotations hardvm writes on each artifact of a statement.
const (
	AnnotationFormat   = "hardvm.dev/format"
	AnnotationRootHash = "hardvm.dev/verity-root-hash"
	AnnotationRef      = "hardvm.dev/ref"
	// AnnotationVirtualSize is the size in bytes of the disk the artifact
	// holds (decimal), when known.
	AnnotationVirtualSize = "hardvm.dev/virtual-size"
)

// Statement is an in-toto Statement v1 (the in-toto attestation Go type).
type Statement = intoto.Statement

// Subject is one artifact a statement is about, as a policy sees it.
type Subject struct {
	Name        string `json:"name"`
	Digest      string `json:"digest"` // sha256:<hex>
	Format      string `json:"format,omitempty"`
	RootHash    string `json:"root_hash,omitempty"`
	Ref         string `json:"ref,omitempty"`          // the image reference, as vm.Ref's text form
	VirtualSize int64  `json:"virtual_size,omitempty"` // bytes of the disk it holds
}

// Subjects returns the subjects of st that carry a SHA-256 digest.
func Subjects(st *Statement) []Subject {
	var out []Subject
	for _, s := range st.GetSubject() {
		h, ok := s.GetDigest()["sha256"]
		if !ok {
			continue
		}
		sub := Subject{Name: s.GetName(), Digest: "sha256:" + strings.ToLower(h)}
		if a := s.GetAnnotations().GetFields(); a != nil {
			sub.Format = a[AnnotationFormat].GetStringValue()
			sub.RootHash = a[AnnotationRootHash].GetStringValue()
			sub.Ref = a[AnnotationRef].GetStringValue()
			sub.VirtualSize, _ = strconv.ParseInt(a[AnnotationVirtualSize].GetStringValue(), 10, 64)
		}
		out = append(out, sub)
	}
	return out
}

// SLSA returns the SLSA v1 provenance of a build as an in-toto statement:
// every artifact is a subject with its SHA-256 (and its format and verity
// root hash as annotations); the build definition has [BuildType], the spec
// as external parameters, the resolved world as internal parameters, and
// every package and repository index as resolved dependencies; run details
// name the builder ([WithBuilderID]) and the invocation, with times from the
// spec's SourceDateEpoch. The internal parameters also bind the whole lock
// by its [LockDigest], and name the kernel the image boots ([WithKernel]):
// [ReadBuildParameters] reads them back.
func SLSA(lock *artifact.Lock, artifacts []artifact.Artifact, opts ...Option) (*Statement, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkInputs(lock, artifacts); err != nil {
		return nil, err
	}
	if len(artifacts) == 0 {
		return nil, fmt.Errorf("%w: provenance needs at least one artifact", ErrInput)
	}
	subjects, err := artifactSubjects(lock, artifacts)
	if err != nil {
		return nil, err
	}

	ext, err := toStruct(map[string]any{"spec": lock.Spec})
	if err != nil {
		return nil, fmt.Errorf("%w: spec: %v", ErrInput, err)
	}
	lockDigest, err := LockDigest(lock)
	if err != nil {
		return nil, err
	}
	params := map[string]any{
		"arch":   lock.Arch,
		"family": lockFamily(lock),
		"world":  lock.World,
		"lock":   lockDigest,
	}
	if o.kernel != "" {
		params["kernel"] = o.kernel
	}
	// What the OS configuration applied: accounts, units, the hardening
	// baseline in force (sysctls, mounts, kernel arguments, SSH server).
	if lock.Configuration != nil {
		params["configuration"] = lock.Configuration
	}
	internal, err := toStruct(params)
	if err != nil {
		return nil, fmt.Errorf("%w: lock: %v", ErrInput, err)
	}

	var deps []*intoto.ResourceDescriptor
	for _, r := range lock.Repositories {
		rd := &intoto.ResourceDescriptor{
			Name: "APKINDEX.tar.gz",
			Uri:  indexURI(r.URL, string(lock.Arch)),
		}
		if r.IndexDigest != "" {
			h, _ := sha256Hex(r.IndexDigest)
			rd.Digest = map[string]string{"sha256": h}
		}
		if len(r.Keys) > 0 || r.Family != "" {
			ann := map[string]any{"family": string(r.Family)}
			if len(r.Keys) > 0 {
				ann["keys"] = r.Keys
			}
			if rd.Annotations, err = toStruct(ann); err != nil {
				return nil, fmt.Errorf("%w: repository %s: %v", ErrInput, r.URL, err)
			}
		}
		deps = append(deps, rd)
	}
	fams := repoFamilies(lock)
	for _, p := range lock.Packages {
		rd := &intoto.ResourceDescriptor{
			Name:             p.Name,
			Uri:              Purl(packageFamily(lock, fams, p), p),
			DownloadLocation: downloadLocationOrEmpty(p),
		}
		if p.SHA256 != "" {
			h, _ := sha256Hex(p.SHA256)
			rd.Digest = map[string]string{"sha256": h}
		}
		deps = append(deps, rd)
	}

	when := timestamppb.New(lock.Spec.Epoch())
	inv := o.invocationID
	if inv == "" {
		inv = "urn:hardvm:build:" + inputsDigest(lock, nil)
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   ext,
			InternalParameters:   internal,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder:  &slsa.Builder{Id: o.builderID, Version: o.builderVer},
			Metadata: &slsa.BuildMetadata{InvocationId: inv, StartedOn: when, FinishedOn: when},
		},
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("%w: provenance: %v", ErrInput, err)
	}
	predStruct, err := protoToStruct(pred)
	if err != nil {
		return nil, err
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       subjects,
		PredicateType: SLSAPredicateType,
		Predicate:     predStruct,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", ErrInput, err)
	}
	return st, nil
}

// BuilderID returns runDetails.builder.id of an SLSA v1 statement.
func BuilderID(st *Statement) string {
	return st.GetPredicate().GetFields()["runDetails"].GetStructValue().GetFields()["builder"].
		GetStructValue().GetFields()["id"].GetStringValue()
}

// ResolvedPackages returns the APK packages an SLSA v1 statement lists as
// resolved dependencies (those whose URI is a pkg:apk purl).
func ResolvedPackages(st *Statement) ([]PackageRef, error) {
	deps := st.GetPredicate().GetFields()["buildDefinition"].GetStructValue().GetFields()["resolvedDependencies"].GetListValue()
	var out []PackageRef
	for i, v := range deps.GetValues() {
		uri := v.GetStructValue().GetFields()["uri"].GetStringValue()
		if !strings.HasPrefix(uri, "pkg:apk/") {
			continue
		}
		r, err := ParsePurl(uri)
		if err != nil {
			return nil, fmt.Errorf("resolvedDependencies[%d]: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func artifactSubjects(lock *artifact.Lock, artifacts []artifact.Artifact) ([]*intoto.ResourceDescriptor, error) {
	var out []*intoto.ResourceDescriptor
	for _, a := range artifacts {
		h, err := sha256Hex(a.Digest)
		if err != nil {
			return nil, fmt.Errorf("%w: artifact %s: %v", ErrInput, a.Name(), err)
		}
		ann := map[string]any{AnnotationFormat: string(a.Format)}
		if a.RootHash != "" {
			ann[AnnotationRootHash] = a.RootHash
		}
		if a.VirtualSize > 0 {
			ann[AnnotationVirtualSize] = strconv.FormatInt(a.VirtualSize, 10)
		}
		ref := a.Ref
		if ref.Variant == "" && lock != nil {
			ref = lock.Spec.Ref()
		}
		if ref.Variant != "" {
			ann[AnnotationRef] = ref.String()
		}
		s, err := toStruct(ann)
		if err != nil {
			return nil, fmt.Errorf("%w: artifact %s: %v", ErrInput, a.Name(), err)
		}
		out = append(out, &intoto.ResourceDescriptor{Name: a.Name(), Digest: map[string]string{"sha256": h}, Annotations: s})
	}
	return out, nil
}

func indexURI(repo, arch string) string {
	base := strings.TrimRight(repo, "/")
	if arch != "" && !strings.HasSuffix(base, "/"+arch) {
		base += "/" + arch
	}
	return base + "/APKINDEX.tar.gz"
}

func downloadLocationOrEmpty(p artifact.Package) string {
	if p.Repository == "" {
		return ""
	}
	return downloadLocation(p)
}

// toStruct converts a JSON-able value to a protobuf Struct through its JSON
// form.
func toStruct(v any) (*structpb.Struct, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	if err := s.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return s, nil
}
