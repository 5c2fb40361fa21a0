package vm

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Version identifies one build in the continuous stream of builds of an
// image. hardvm has no LTS releases of the OS: versions are the build's
// SourceDateEpoch plus a build number, so they sort by time.
type Version struct {
	Epoch int64 // SourceDateEpoch of the build, Unix seconds
	Build int   // build number, to tell apart builds of the same second
}

const versionLayout = "20060102.150405"

// String formats v as YYYYMMDD.hhmmss.N (UTC), e.g. 20261123.104501.0.
func (v Version) String() string {
	return time.Unix(v.Epoch, 0).UTC().Format(versionLayout) + "." + strconv.Itoa(v.Build)
}

// IsZero reports whether v is the zero version.
func (v Version) IsZero() bool { return v == Version{} }

// Time returns the version's epoch as a time in UTC.
func (v Version) Time() time.Time { return time.Unix(v.Epoch, 0).UTC() }

// Compare returns -1, 0 or +1 as v sorts before, with or after w.
func (v Version) Compare(w Version) int {
	if c := cmp.Compare(v.Epoch, w.Epoch); c != 0 {
		return c
	}
	return cmp.Compare(v.Build, w.Build)
}

// ParseVersion parses the form [Version.String] writes.
func ParseVersion(s string) (Version, error) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 || len(s[:i]) != len(versionLayout) {
		return Version{}, fmt.Errorf("%w: version %q (want YYYYMMDD.hhmmss.N)", ErrParse, s)
	}
	t, err := time.Parse(versionLayout, s[:i])
	if err != nil {
		return Version{}, fmt.Errorf("%w: version %q: %v", ErrParse, s, err)
	}
	b, err := strconv.Atoi(s[i+1:])
	if err != nil || b < 0 || s[i+1:] != strconv.Itoa(b) {
		return Version{}, fmt.Errorf("%w: version %q: build number %q", ErrParse, s, s[i+1:])
	}
	return Version{Epoch: t.Unix(), Build: b}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Ref names one built image: what it is (variant, platform, arch, kernel
// track, FIPS), which build (version) and, once built, its content digest.
//
// Its text form is
//
//	variant[+fips]/platform/arch/track:version[@sha256:hex]
//
// for example base+fips/aws/x86_64/lts:20261123.104501.0.
type Ref struct {
	Variant  string
	Platform Cloud
	Arch     Arch
	Kernel   KernelTrack
	FIPS     bool
	Version  Version
	Digest   digest.Digest `json:"digest,omitempty"` // "sha256:<hex>" of the raw disk
}

// Stream returns the part of the ref that names a stream of builds, the key
// under which "latest" is found: variant, platform, arch, track and FIPS.
func (r Ref) Stream() string {
	v := r.Variant
	if r.FIPS {
		v += "+fips"
	}
	return v + "/" + string(r.Platform) + "/" + string(r.Arch) + "/" + string(r.Kernel)
}

// String returns the text form of r.
func (r Ref) String() string {
	s := r.Stream() + ":" + r.Version.String()
	if r.Digest != "" {
		s += "@" + string(r.Digest)
	}
	return s
}

// SameStream reports whether r and o name builds of the same stream.
func (r Ref) SameStream(o Ref) bool { return r.Stream() == o.Stream() }

// Compatible reports whether a node running r may be replaced by an image
// of o: same variant, platform and architecture. (Kernel track and FIPS may
// change through a replacement.)
func (r Ref) Compatible(o Ref) bool {
	return r.Variant == o.Variant && r.Platform == o.Platform && r.Arch == o.Arch
}

var (
	refRe    = regexp.MustCompile(`^([a-z0-9][a-z0-9-]*)(\+fips)?/([a-z0-9]+)/([a-z0-9_]+)/([a-z]+):([0-9.]+)(?:@(sha256:[0-9a-f]{64}))?$`)
	digestRe = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// ParseRef parses the text form of a ref and checks every part against
// vm's tables.
func ParseRef(s string) (Ref, error) {
	m := refRe.FindStringSubmatch(s)
	if m == nil {
		return Ref{}, fmt.Errorf("%w: ref %q (want variant[+fips]/platform/arch/track:YYYYMMDD.hhmmss.N[@sha256:hex])", ErrParse, s)
	}
	r := Ref{Variant: m[1], FIPS: m[2] != "", Platform: Cloud(m[3]), Arch: Arch(m[4]), Kernel: KernelTrack(m[5]), Digest: digest.Digest(m[7])}
	v, err := ParseVersion(m[6])
	if err != nil {
		return Ref{}, fmt.Errorf("ref %q: %w", s, err)
	}
	r.Version = v
	if err := r.Validate(); err != nil {
		return Ref{}, fmt.Errorf("ref %q: %w", s, err)
	}
	return r, nil
}

// Validate checks r's parts against the tables.
func (r Ref) Validate() error {
	v, err := LookupVariant(r.Variant)
	if err != nil {
		return err
	}
	if !r.Platform.Valid() {
		return fmt.Errorf("%w: platform %q", ErrUnknown, r.Platform)
	}
	if !v.OffersOn(r.Platform) {
		return fmt.Errorf("%w: variant %s is not offered on %s", ErrUnsupported, r.Variant, r.Platform)
	}
	if !r.Arch.Valid() {
		return fmt.Errorf("%w: arch %q", ErrUnknown, r.Arch)
	}
	if !r.Kernel.Valid() {
		return fmt.Errorf("%w: kernel track %q", ErrUnknown, r.Kernel)
	}
	if r.Digest != "" && !digestRe.MatchString(string(r.Digest)) {
		return fmt.Errorf("%w: digest %q (want sha256:<64 hex>)", ErrParse, r.Digest)
	}
	return nil
}

// MarshalText implements encoding.TextMarshaler; it lets a Ref be a map key
// or a single JSON string where a compact form is wanted.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Ref) UnmarshalText(b []byte) error {
	p, err := ParseRef(string(b))
	if err != nil {
		return err
	}
	*r = p
	return nil
}
