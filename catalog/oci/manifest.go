package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// Media and artifact types of what the store pushes.
const (
	ArtifactType            = "application/vnd.hardvm.vm.image.v1"
	DeprecationArtifactType = "application/vnd.hardvm.deprecation.v1+json"
	EntryMediaType          = "application/vnd.hardvm.catalog.entry.v1+json"
	EmptyMediaType          = "application/vnd.oci.empty.v1+json"
	diskMediaTypePrefix     = "application/vnd.hardvm.disk."
)

// Annotations on image manifests.
const (
	AnnotationRef     = "dev.hardvm.ref"
	AnnotationStream  = "dev.hardvm.stream"
	AnnotationRegions = "dev.hardvm.regions"
	annotationTitle   = "org.opencontainers.image.title"
	annotationVersion = "org.opencontainers.image.version"
	annotationCreated = "org.opencontainers.image.created"
)

// DiskMediaType returns the layer media type of a disk format.
func DiskMediaType(f vm.DiskFormat) types.MediaType {
	return types.MediaType(diskMediaTypePrefix + string(f))
}

var emptyConfig = []byte("{}")

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func emptyDescriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: EmptyMediaType, Size: int64(len(emptyConfig)), Digest: sha(emptyConfig), Data: emptyConfig}
}

// hashOf returns the go-containerregistry form of a digest.
func hashOf(d digest.Digest) (v1.Hash, error) { return v1.NewHash(d.String()) }

// digestOf returns the go-digest form of a go-containerregistry hash.
func digestOf(h v1.Hash) digest.Digest {
	return digest.NewDigestFromEncoded(digest.Algorithm(h.Algorithm), h.Hex)
}

// Tag returns the tag of a Ref: the stream and version with dots, e.g.
// base_fips.aws.x86_64.lts.20261123.104501.0 (tags cannot hold '+', '/'
// or ':').
func Tag(r vm.Ref) string {
	v := r.Variant
	if r.FIPS {
		v += "_fips"
	}
	return strings.Join([]string{v, string(r.Platform), string(r.Arch), string(r.Kernel), r.Version.String()}, ".")
}

const deprecatedSuffix = ".deprecated"

var tagRe = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*?)(_fips)?\.([a-z0-9]+)\.([a-z0-9_]+)\.([a-z]+)\.([0-9]{8}\.[0-9]{6}\.[0-9]+)$`)

// parseTag returns the Ref (without digest) a tag names, if it is an entry
// tag.
func parseTag(tag string) (vm.Ref, bool) {
	m := tagRe.FindStringSubmatch(tag)
	if m == nil {
		return vm.Ref{}, false
	}
	fips := ""
	if m[2] != "" {
		fips = "+fips"
	}
	r, err := vm.ParseRef(m[1] + fips + "/" + m[3] + "/" + m[4] + "/" + m[5] + ":" + m[6])
	if err != nil {
		return vm.Ref{}, false
	}
	return r, true
}

// rawManifest is a manifest ready to push.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.b, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }
func (m rawManifest) digest() v1.Hash                     { return sha(m.b) }
func (m rawManifest) descriptor(artifactType string) v1.Descriptor {
	return v1.Descriptor{MediaType: m.mt, Size: int64(len(m.b)), Digest: m.digest(), ArtifactType: artifactType}
}

// entryBlob is the canonical JSON of an entry, as stored in its layer.
func entryBlob(e catalog.Entry) ([]byte, error) {
	e.Deprecation = nil // recorded by its own referrer
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageManifest returns the manifest of e, whose entry layer is blob.
func imageManifest(e catalog.Entry, blob []byte) (rawManifest, error) {
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  ArtifactType,
		Config:        emptyDescriptor(),
		Annotations: map[string]string{
			AnnotationRef:     e.Ref.String(),
			AnnotationStream:  e.Ref.Stream(),
			annotationVersion: e.Ref.Version.String(),
			annotationCreated: e.Published.UTC().Format(time.RFC3339),
		},
	}
	if rs := e.Regions(); len(rs) > 0 {
		m.Annotations[AnnotationRegions] = strings.Join(rs, ",")
	}
	m.Layers = append(m.Layers, v1.Descriptor{MediaType: EntryMediaType, Size: int64(len(blob)), Digest: sha(blob), Annotations: map[string]string{annotationTitle: "entry.json"}})
	for _, a := range e.Artifacts {
		h, err := hashOf(a.Digest)
		if err != nil {
			return rawManifest{}, err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: DiskMediaType(a.Format), Size: a.Size, Digest: h, Annotations: map[string]string{annotationTitle: a.Name}})
	}
	b, err := json.Marshal(m)
	return rawManifest{b, types.OCIManifestSchema1}, err
}

// referrerManifest returns the manifest of an artifact of artifactType
// whose single layer is desc, referring to subject.
func referrerManifest(artifactType string, layer v1.Descriptor, subject v1.Descriptor, created time.Time) (rawManifest, error) {
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        emptyDescriptor(),
		Layers:        []v1.Descriptor{layer},
		Subject:       &subject,
		Annotations:   map[string]string{annotationCreated: created.UTC().Format(time.RFC3339)},
	}
	b, err := json.Marshal(m)
	return rawManifest{b, types.OCIManifestSchema1}, err
}

// fileLayer is a blob read from a file, with a known digest, for pushing
// disks without holding them in memory. Each read of it opens the file
// anew (go-containerregistry reads a layer again when it retries) through
// catalog.OpenArtifact, whose reader hashes what it returns and withholds
// the last bytes of a file whose digest is wrong: such a blob is never
// uploaded whole, and the registry checks the digest at the end of the
// upload too.
type fileLayer struct {
	a  artifact.Artifact // Path, Size and Digest are used
	h  v1.Hash
	mt types.MediaType
}

func newFileLayer(a artifact.Artifact, mt types.MediaType) (*fileLayer, error) {
	h, err := hashOf(a.Digest)
	if err != nil {
		return nil, err
	}
	return &fileLayer{a: a, h: h, mt: mt}, nil
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.h, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.h, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return l.open() }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return l.open() }
func (l *fileLayer) Size() (int64, error)                 { return l.a.Size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mt, nil }

func (l *fileLayer) open() (io.ReadCloser, error) {
	f, err := catalog.OpenArtifact(l.a, "oci", nil)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{f.Reader(), f}, nil
}
