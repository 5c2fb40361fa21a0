package provenance

import (
	"fmt"
	"slices"
	"time"

	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/hardvm/hardvm/vm"
)

// Policy says what [Verify] requires of an artifact's attestations. Make one
// with [NewPolicy]; the zero options give the safe default:
//
//   - the provenance and the SBOM attestations are both required, signed,
//     and name the artifact's digest as a subject;
//   - a key-signed bundle must verify with a key of the [TrustedMaterial];
//     a certificate-signed bundle must match an identity given with
//     [WithIdentity] and carry a verified transparency-log entry;
//   - the builder id is [DefaultBuilderID] unless [RequireBuilder] says
//     otherwise;
//   - packages come from Wolfi or Chainguard OS repositories, never both.
//
// Every option that weakens a check ends in Unsafe.
type Policy struct {
	identities   []verify.CertificateIdentity
	identityText []string
	anyIdentity  bool
	builders     []string
	anyBuilder   bool
	noSBOM       bool
	families     []vm.RepositoryFamily
	fips         bool
	maxAge       time.Duration
	now          time.Time
	denied       []denial
	tlog         int  // entries required of certificate-signed bundles
	tlogKeys     int  // entries required of key-signed bundles
	timestamps   int  // RFC 3161 timestamps required
	noTlogUnsafe bool // certificate-signed bundles need no log entry
}

type denial struct {
	name string
	c    versionConstraint
}

// PolicyOption configures a [Policy].
type PolicyOption func(*Policy) error

// NewPolicy returns the default policy changed by opts.
func NewPolicy(opts ...PolicyOption) (*Policy, error) {
	p := &Policy{
		builders: []string{DefaultBuilderID},
		families: []vm.RepositoryFamily{vm.Wolfi, vm.Chainguard},
		tlog:     1,
	}
	customBuilders := false
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		before := len(p.builders)
		if err := opt(p); err != nil {
			return nil, err
		}
		if len(p.builders) > before && !customBuilders {
			// The first RequireBuilder replaces the default.
			p.builders = slices.Clone(p.builders[before:])
			customBuilders = true
		}
	}
	if p.noTlogUnsafe {
		p.tlog = 0
	}
	return p, nil
}

// WithIdentity accepts certificate-signed bundles whose certificate was
// issued for san (the subject alternative name: an email or a workflow URI)
// by the OIDC issuer. Either may be a regular expression when given as
// "re:EXPR". Several identities may be given; one must match.
func WithIdentity(issuer, san string) PolicyOption {
	return func(p *Policy) error {
		var issuerV, issuerRE, sanV, sanRE string
		if re, ok := cutRE(issuer); ok {
			issuerRE = re
		} else {
			issuerV = issuer
		}
		if re, ok := cutRE(san); ok {
			sanRE = re
		} else {
			sanV = san
		}
		if issuer == "" || san == "" {
			return fmt.Errorf("%w: identity needs an issuer and a SAN (use AnyIdentityUnsafe to accept any)", ErrOption)
		}
		id, err := verify.NewShortCertificateIdentity(issuerV, issuerRE, sanV, sanRE)
		if err != nil {
			return fmt.Errorf("%w: identity %s %s: %v", ErrOption, issuer, san, err)
		}
		p.identities = append(p.identities, id)
		p.identityText = append(p.identityText, issuer+" "+san)
		return nil
	}
}

func cutRE(s string) (string, bool) {
	if len(s) > 3 && s[:3] == "re:" {
		return s[3:], true
	}
	return "", false
}

// AnyIdentityUnsafe accepts certificate-signed bundles from any identity the
// trusted root's CA certified. Anyone who can get a certificate can then
// sign for you.
func AnyIdentityUnsafe() PolicyOption {
	return func(p *Policy) error { p.anyIdentity = true; return nil }
}

// RequireBuilder requires the provenance's builder id to be one of ids. The
// first call replaces the default [DefaultBuilderID].
func RequireBuilder(ids ...string) PolicyOption {
	return func(p *Policy) error {
		if len(ids) == 0 {
			return fmt.Errorf("%w: RequireBuilder needs an id", ErrOption)
		}
		for _, id := range ids {
			if err := absoluteURI("builder id", id); err != nil {
				return err
			}
		}
		p.builders = append(p.builders, ids...)
		return nil
	}
}

// AnyBuilderUnsafe accepts provenance from any builder.
func AnyBuilderUnsafe() PolicyOption {
	return func(p *Policy) error { p.anyBuilder = true; return nil }
}

// WithoutSBOMUnsafe does not require a signed SBOM attestation.
func WithoutSBOMUnsafe() PolicyOption {
	return func(p *Policy) error { p.noSBOM = true; return nil }
}

// AllowFamilies sets the repository families the image's packages may come
// from (default Wolfi and Chainguard). Wolfi and Chainguard OS packages are
// never accepted in one image, whatever is allowed.
func AllowFamilies(fams ...vm.RepositoryFamily) PolicyOption {
	return func(p *Policy) error {
		if len(fams) == 0 {
			return fmt.Errorf("%w: AllowFamilies needs a family", ErrOption)
		}
		for _, f := range fams {
			if !f.Valid() {
				return fmt.Errorf("%w: repository family %q", ErrOption, f)
			}
		}
		p.families = slices.Clone(fams)
		return nil
	}
}

// RequireFIPS requires a signed FIPS report attestation for the artifact
// (its subject is the artifact's digest) whose checks all pass.
func RequireFIPS() PolicyOption {
	return func(p *Policy) error { p.fips = true; return nil }
}

// MaxAge rejects builds whose provenance says they started more than d
// before the verification time ([At], default the current time).
func MaxAge(d time.Duration) PolicyOption {
	return func(p *Policy) error {
		if d <= 0 {
			return fmt.Errorf("%w: maximum age %v", ErrOption, d)
		}
		p.maxAge = d
		return nil
	}
}

// At sets the verification time that [MaxAge] measures from. Default: the
// time Verify is called.
func At(t time.Time) PolicyOption {
	return func(p *Policy) error {
		if t.IsZero() {
			return fmt.Errorf("%w: zero verification time", ErrOption)
		}
		p.now = t
		return nil
	}
}

// DenyPackage rejects images holding package name at a version matching
// constraint: an APK version constraint as dependencies write it
// ("<1.2.3-r0", "<=", "=", ">=", ">", "~3.6" for 3.6 and its point
// releases; see apkversion.ParseConstraint), "!=" with a version, or "*"
// (or "") for every version. A version that apk-tools would not accept
// matches every denial.
func DenyPackage(name, constraint string) PolicyOption {
	return func(p *Policy) error {
		if name == "" {
			return fmt.Errorf("%w: DenyPackage needs a package name", ErrOption)
		}
		c, err := parseConstraint(constraint)
		if err != nil {
			return fmt.Errorf("%w: deny %s: %v", ErrOption, name, err)
		}
		p.denied = append(p.denied, denial{name, c})
		return nil
	}
}

// RequireTransparencyLog requires n verified transparency-log entries of
// every bundle, key-signed ones included (default: 1 for
// certificate-signed bundles, 0 for key-signed ones, which are made offline).
func RequireTransparencyLog(n int) PolicyOption {
	return func(p *Policy) error {
		if n < 1 {
			return fmt.Errorf("%w: transparency-log threshold %d", ErrOption, n)
		}
		p.tlog, p.tlogKeys = n, n
		return nil
	}
}

// RequireTimestamps requires n verified RFC 3161 timestamps of every bundle.
func RequireTimestamps(n int) PolicyOption {
	return func(p *Policy) error {
		if n < 1 {
			return fmt.Errorf("%w: timestamp threshold %d", ErrOption, n)
		}
		p.timestamps = n
		return nil
	}
}

// WithoutTransparencyLogUnsafe accepts certificate-signed bundles without a
// transparency-log entry (their time then comes from RFC 3161 timestamps).
func WithoutTransparencyLogUnsafe() PolicyOption {
	return func(p *Policy) error { p.noTlogUnsafe = true; return nil }
}
