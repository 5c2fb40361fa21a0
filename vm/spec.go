package vm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Spec is what a build starts from: which variant, for which platform and
// architecture, from which repositories, with what extras. Decode one from
// YAML with [ParseSpec] or build it in Go, then call [Spec.Validate].
type Spec struct {
	Variant      string       `yaml:"variant" json:"variant"`
	Platform     Cloud        `yaml:"platform" json:"platform"`
	Arch         Arch         `yaml:"arch" json:"arch"`
	Kernel       KernelTrack  `yaml:"kernel,omitempty" json:"kernel,omitempty"` // default: lts with FIPS, else stable
	FIPS         bool         `yaml:"fips,omitempty" json:"fips,omitempty"`
	Repositories []Repository `yaml:"repositories" json:"repositories"`
	Packages     []string     `yaml:"packages,omitempty" json:"packages,omitempty"` // extra world entries
	Formats      []DiskFormat `yaml:"formats,omitempty" json:"formats,omitempty"`   // default: the platform's first
	// SourceDateEpoch is the build's only clock: file times, versions and
	// document timestamps derive from it (Unix seconds, 1..MaxSourceDateEpoch).
	SourceDateEpoch int64    `yaml:"source_date_epoch" json:"source_date_epoch"`
	Build           int      `yaml:"build,omitempty" json:"build,omitempty"`     // build number within the epoch's second
	Cmdline         []string `yaml:"cmdline,omitempty" json:"cmdline,omitempty"` // extra kernel arguments
	// Drivers are kernel modules the initramfs loads besides the
	// platform's own (Platform.Drivers): another platform's disk or
	// network devices, when one image must boot on several.
	Drivers    []string          `yaml:"drivers,omitempty" json:"drivers,omitempty"`
	Size       ByteSize          `yaml:"size,omitempty" json:"size,omitempty"` // virtual disk size; default 2GiB
	Users      []User            `yaml:"users,omitempty" json:"users,omitempty"`
	SecureBoot *SecureBoot       `yaml:"secure_boot,omitempty" json:"secure_boot,omitempty"`
	Hostname   string            `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	Labels     map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Repository is one APK repository a build reads.
type Repository struct {
	URL    string           `yaml:"url" json:"url"`                     // file:// path, directory, or http(s) URL
	Keys   []string         `yaml:"keys" json:"keys"`                   // public keys (files or URLs) that may sign its index
	Family RepositoryFamily `yaml:"family" json:"family"`               // wolfi, chainguard (or alpine, for tests)
	Tag    string           `yaml:"tag,omitempty" json:"tag,omitempty"` // pin name: world entries "name@tag" resolve only here
}

// User is an account the image creates. Users have no password: they log
// in with SSH keys.
type User struct {
	Name    string   `yaml:"name" json:"name"`
	UID     int      `yaml:"uid,omitempty" json:"uid,omitempty"` // default: 1000 and up, in order
	SSHKeys []string `yaml:"ssh_keys,omitempty" json:"ssh_keys,omitempty"`
	Groups  []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	Sudo    bool     `yaml:"sudo,omitempty" json:"sudo,omitempty"`
}

// SecureBoot names the db certificate and key that sign the boot loader.
// They are references (file paths), never the key material itself.
type SecureBoot struct {
	DBCert string `yaml:"db_cert" json:"db_cert"`
	DBKey  string `yaml:"db_key" json:"db_key"`
}

// DefaultSize is the virtual disk size of a spec that states none.
const DefaultSize ByteSize = 2 << 30

// KernelTrack returns the spec's kernel track, applying the default: LTS
// when FIPS is on, stable otherwise.
func (s *Spec) KernelTrack() KernelTrack {
	if s.Kernel != "" {
		return s.Kernel
	}
	if s.FIPS {
		return LTS
	}
	return Stable
}

// DiskFormats returns the formats to write, applying the default: the
// platform's first accepted format.
func (s *Spec) DiskFormats() []DiskFormat {
	if len(s.Formats) > 0 {
		return s.Formats
	}
	if p, err := LookupPlatform(s.Platform); err == nil {
		return p.Formats[:1]
	}
	return nil
}

// DiskSize returns the virtual disk size, applying the default and the
// platform's alignment.
func (s *Spec) DiskSize() int64 {
	size := int64(s.Size)
	if size == 0 {
		size = int64(DefaultSize)
	}
	if p, err := LookupPlatform(s.Platform); err == nil {
		size = p.AlignSize(size)
	}
	return size
}

// BootDrivers returns the kernel modules the image's initramfs loads to
// find its root and network: the platform's drivers, then the spec's
// Drivers, each once.
func (s *Spec) BootDrivers() []string {
	var out []string
	if p, err := LookupPlatform(s.Platform); err == nil {
		out = p.Drivers()
	}
	for _, d := range s.Drivers {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// Console returns the kernel's serial console device for the spec's
// platform and architecture (Platform.Console).
func (s *Spec) Console() string {
	if p, err := LookupPlatform(s.Platform); err == nil {
		return p.Console(s.Arch)
	}
	return s.Arch.Console()
}

// Epoch returns SourceDateEpoch as a time in UTC.
func (s *Spec) Epoch() time.Time { return time.Unix(s.SourceDateEpoch, 0).UTC() }

// RepositoryFamily returns the family of the spec's repositories; with
// none, or with a mix, it returns "".
func (s *Spec) RepositoryFamily() RepositoryFamily {
	var fam RepositoryFamily
	for _, r := range s.Repositories {
		if fam == "" {
			fam = r.Family
		} else if r.Family != fam {
			return ""
		}
	}
	return fam
}

// Ref returns the reference of the image this spec builds, without digest.
func (s *Spec) Ref() Ref {
	return Ref{
		Variant:  s.Variant,
		Platform: s.Platform,
		Arch:     s.Arch,
		Kernel:   s.KernelTrack(),
		FIPS:     s.FIPS,
		Version:  Version{Epoch: s.SourceDateEpoch, Build: s.Build},
	}
}

// ByteSize is a size in bytes written in YAML as a number or with a binary
// unit suffix: 512MiB, 4GiB, 1TiB (K, M, G, T and KiB… are accepted).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// ParseByteSize parses s as a [ByteSize].
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t = strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
			mult = u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: size %q (want a whole number with an optional unit: 512MiB, 4GiB)", ErrParse, s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%w: size %q is too large", ErrParse, s)
	}
	return ByteSize(n * mult), nil
}

// String formats b with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range sizeUnits[:4] {
		if b != 0 && int64(b)%u.mult == 0 {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalYAML accepts a number of bytes or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: size must be a number or a string such as 4GiB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes the size with its unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }
