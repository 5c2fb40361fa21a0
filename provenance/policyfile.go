package provenance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hardvm/hardvm/vm"
)

// PolicyFile is the YAML form of a [Policy], as `hardvm verify --policy`
// reads it. Unknown fields are errors; omitted fields keep the safe default.
//
//	identities:
//	  - issuer: https://token.actions.githubusercontent.com
//	    san: re:^https://github.com/example/images/
//	builders: [https://ci.example.com/builder/v1]
//	families: [chainguard]
//	fips: true
//	max_age: 720h
//	deny:
//	  - {name: openssl, versions: "<3.0.15-r0"}
//	transparency_log: 1
//	timestamps: 1
//	unsafe: {any_identity: false, any_builder: false, without_sbom: false, without_transparency_log: false}
type PolicyFile struct {
	Identities []struct {
		Issuer string `yaml:"issuer"`
		SAN    string `yaml:"san"`
	} `yaml:"identities"`
	Builders []string              `yaml:"builders"`
	Families []vm.RepositoryFamily `yaml:"families"`
	FIPS     bool                  `yaml:"fips"`
	MaxAge   string                `yaml:"max_age"`
	Deny     []struct {
		Name     string `yaml:"name"`
		Versions string `yaml:"versions"`
	} `yaml:"deny"`
	TransparencyLog int `yaml:"transparency_log"`
	Timestamps      int `yaml:"timestamps"`
	Unsafe          struct {
		AnyIdentity            bool `yaml:"any_identity"`
		AnyBuilder             bool `yaml:"any_builder"`
		WithoutSBOM            bool `yaml:"without_sbom"`
		WithoutTransparencyLog bool `yaml:"without_transparency_log"`
	} `yaml:"unsafe"`
}

// ReadPolicy reads a [PolicyFile] (at most [MaxDocumentSize] bytes) and
// builds its Policy; extra options apply after the file's.
func ReadPolicy(r io.Reader, extra ...PolicyOption) (*Policy, error) {
	b, err := readLimited("policy", r)
	if err != nil {
		return nil, err
	}
	var f PolicyFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, malformed("policy", "", "%v", err)
	}
	opts, err := f.Options()
	if err != nil {
		return nil, &DocumentError{Kind: "policy", Err: err}
	}
	return NewPolicy(append(opts, extra...)...)
}

// Options returns the policy options the file says.
func (f *PolicyFile) Options() ([]PolicyOption, error) {
	var opts []PolicyOption
	for _, id := range f.Identities {
		opts = append(opts, WithIdentity(id.Issuer, id.SAN))
	}
	if len(f.Builders) > 0 {
		opts = append(opts, RequireBuilder(f.Builders...))
	}
	if len(f.Families) > 0 {
		opts = append(opts, AllowFamilies(f.Families...))
	}
	if f.FIPS {
		opts = append(opts, RequireFIPS())
	}
	if f.MaxAge != "" {
		d, err := time.ParseDuration(f.MaxAge)
		if err != nil {
			return nil, fmt.Errorf("%w: max_age %q: %v", ErrOption, f.MaxAge, err)
		}
		opts = append(opts, MaxAge(d))
	}
	for _, d := range f.Deny {
		opts = append(opts, DenyPackage(d.Name, d.Versions))
	}
	if f.TransparencyLog > 0 {
		opts = append(opts, RequireTransparencyLog(f.TransparencyLog))
	}
	if f.Timestamps > 0 {
		opts = append(opts, RequireTimestamps(f.Timestamps))
	}
	if f.Unsafe.AnyIdentity {
		opts = append(opts, AnyIdentityUnsafe())
	}
	if f.Unsafe.AnyBuilder {
		opts = append(opts, AnyBuilderUnsafe())
	}
	if f.Unsafe.WithoutSBOM {
		opts = append(opts, WithoutSBOMUnsafe())
	}
	if f.Unsafe.WithoutTransparencyLog {
		opts = append(opts, WithoutTransparencyLogUnsafe())
	}
	// Validate each option now, so errors name the file.
	if _, err := NewPolicy(opts...); err != nil {
		return nil, err
	}
	return opts, nil
}
