package provenance

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// TrustedMaterial is what signatures are checked against: public keys for
// key-signed bundles, and a Sigstore trusted root (Fulcio CAs, Rekor logs,
// timestamp authorities, CT logs) for certificate-signed ones.
type TrustedMaterial struct {
	keys []crypto.PublicKey
	root root.TrustedMaterial
}

// TrustKeys trusts bundles signed by any of keys.
func TrustKeys(keys ...crypto.PublicKey) (*TrustedMaterial, error) {
	t := &TrustedMaterial{}
	for _, k := range keys {
		if _, err := keyAlgorithm(k); err != nil {
			return nil, err
		}
		t.keys = append(t.keys, k)
	}
	return t, nil
}

// ReadTrustedKeyFile trusts the public key in a PEM file (key.pub) of at
// most 64 KiB; a larger or non-regular file is refused before it is read.
func ReadTrustedKeyFile(path string) (*TrustedMaterial, error) {
	b, err := readFileLimited("key", path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	k, err := ParsePublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return TrustKeys(k)
}

// TrustRoot trusts a Sigstore trusted root (root.NewTrustedRootFromPath for
// a trusted_root.json, or the public-good instance through TUF).
func TrustRoot(tm root.TrustedMaterial) *TrustedMaterial { return &TrustedMaterial{root: tm} }

// WithKeys returns t also trusting keys.
func (t *TrustedMaterial) WithKeys(keys ...crypto.PublicKey) (*TrustedMaterial, error) {
	n, err := TrustKeys(keys...)
	if err != nil {
		return nil, err
	}
	n.keys = append(slices.Clone(t.keys), n.keys...)
	n.root = t.root
	return n, nil
}

// Verify checks an artifact against its attestations under a policy: each
// bundle's signature (against trusted), signer identity, transparency log and
// timestamps as the policy requires, that the statement names the artifact's
// digest as a subject, and the rules of the statement's kind (SLSA
// provenance: builder id, repository families, denied packages, age; SBOM:
// a valid SPDX document; FIPS report: all checks pass). Then it checks that
// every attestation the policy requires was among them.
//
// The artifact's digest is computed from the file at artifact.Path (and must
// equal artifact.Digest when that is set); with no Path, artifact.Digest is
// used as given.
//
// The Result lists every rule; the error joins the failures, each a
// *RuleError wrapping a sentinel of the ErrVerification tree. A nil policy is
// the default policy.
func Verify(ctx context.Context, artifact artifact.Artifact, b *Bundle, p *Policy, trusted *TrustedMaterial, more ...*Bundle) (*Result, error) {
	if p == nil {
		var err error
		if p, err = NewPolicy(); err != nil {
			return nil, err
		}
	}
	if trusted == nil {
		trusted = &TrustedMaterial{}
	}
	res := &Result{Artifact: artifact.Name()}
	if res.Artifact == "" {
		res.Artifact = string(artifact.Digest)
	}
	digest, err := artifactDigest(ctx, artifact)
	if err != nil {
		res.fail("", "artifact-digest", err)
		return res, res.Err()
	}
	res.Digest = string(digest)
	res.pass("", "artifact-digest", string(digest))

	now := p.now
	if now.IsZero() {
		now = time.Now()
	}
	for i, bb := range append([]*Bundle{b}, more...) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		label := fmt.Sprintf("bundle %d", i)
		if bb == nil || bb.Bundle == nil {
			res.fail(label, "bundle", fmt.Errorf("%w: no bundle", ErrMalformed))
			continue
		}
		st, ok := verifyBundle(res, label, bb, digest, p, trusted)
		if !ok {
			continue
		}
		switch st.GetPredicateType() {
		case SLSAPredicateType:
			checkProvenance(res, st, p, now)
			res.Provenance = st
		case SBOMPredicateType:
			if _, err := StatementSBOM(st); err != nil {
				res.fail("sbom", "sbom", err)
			} else {
				res.pass("sbom", "sbom", "valid SPDX 2.3 document")
				res.SBOM = st
			}
		case FIPSPredicateType:
			checkFIPS(res, st)
		default:
			res.fail(label, "predicate-type", fmt.Errorf("%w: %q is not SLSA v1 provenance, SPDX or a FIPS report", ErrPredicateType, st.GetPredicateType()))
		}
	}

	require := func(kind string, have *Statement, need bool) {
		switch {
		case !need:
			res.skip(kind, "attestation:"+kind, "not required")
		case have == nil:
			res.fail(kind, "attestation:"+kind, fmt.Errorf("%w: no verified %s attestation for %s", ErrMissingAttestation, kind, digest))
		default:
			res.pass(kind, "attestation:"+kind, "verified")
		}
	}
	require("provenance", res.Provenance, true)
	require("sbom", res.SBOM, !p.noSBOM)
	if p.fips {
		if res.FIPS == nil && !hasFailed(res, "fips", "fips-report") {
			res.fail("fips", "attestation:fips", fmt.Errorf("%w: %w: no signed FIPS report for %s", ErrFIPS, ErrMissingAttestation, digest))
		} else if res.FIPS != nil {
			res.pass("fips", "attestation:fips", "verified")
		}
	} else {
		res.skip("fips", "attestation:fips", "not required")
	}
	return res, res.Err()
}

func hasFailed(res *Result, att, rule string) bool {
	for _, r := range res.Rules {
		if r.Attestation == att && r.Name == rule && r.Outcome == Fail {
			return true
		}
	}
	return false
}

func artifactDigest(ctx context.Context, a artifact.Artifact) (digest.Digest, error) {
	if a.Path == "" {
		if _, err := sha256Hex(a.Digest); err != nil {
			return "", fmt.Errorf("%w: artifact has no path and %v", ErrInput, err)
		}
		return a.Digest, nil
	}
	d, err := FileDigestContext(ctx, a.Path)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInput, err)
	}
	if a.Digest != "" && a.Digest != d {
		return "", fmt.Errorf("%w: %s has digest %s, its record says %s", ErrSubjectMismatch, a.Path, d, a.Digest)
	}
	return d, nil
}

// verifyBundle checks one bundle's signature, identity, log entries and
// timestamps, and subject; it returns the verified statement.
func verifyBundle(res *Result, label string, b *Bundle, d digest.Digest, p *Policy, trusted *TrustedMaterial) (*Statement, bool) {
	vc, err := b.VerificationContent()
	if err != nil {
		res.fail(label, "signature", fmt.Errorf("%w: %w: %v", ErrSignature, ErrMalformed, err))
		return nil, false
	}
	cert := vc.Certificate()
	var opts []verify.VerifierOption
	tlog := p.tlogKeys
	if cert != nil {
		tlog = p.tlog
	}
	if tlog > 0 {
		opts = append(opts, verify.WithTransparencyLog(tlog))
	}
	switch {
	case p.timestamps > 0:
		opts = append(opts, verify.WithSignedTimestamps(p.timestamps))
	case cert != nil:
		opts = append(opts, verify.WithObserverTimestamps(1))
	case tlog > 0:
		opts = append(opts, verify.WithIntegratedTimestamps(tlog))
	default:
		opts = append(opts, verify.WithNoObserverTimestamps())
	}

	var vr *verify.VerificationResult
	var identity string
	if cert != nil {
		if trusted.root == nil {
			res.fail(label, "signature", fmt.Errorf("%w: certificate-signed bundle but no trusted root", ErrSignature))
			return nil, false
		}
		var pol verify.PolicyOption
		switch {
		case len(p.identities) > 0:
			pol = verify.WithCertificateIdentity(p.identities[0])
			if len(p.identities) > 1 {
				pol = withIdentities(p.identities)
			}
		case p.anyIdentity:
			pol = verify.WithoutIdentitiesUnsafe()
		default:
			res.fail(label, "identity", fmt.Errorf("%w: certificate-signed bundle but the policy names no identity (WithIdentity)", ErrIdentity))
			return nil, false
		}
		v, err := verify.NewVerifier(trusted.root, opts...)
		if err != nil {
			res.fail(label, "signature", fmt.Errorf("%w: %v", ErrSignature, err))
			return nil, false
		}
		vr, err = v.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), pol))
		if err != nil {
			res.fail(label, ruleOf(err), classify(err))
			return nil, false
		}
		if vr.Signature != nil && vr.Signature.Certificate != nil {
			identity = vr.Signature.Certificate.Issuer + " " + vr.Signature.Certificate.SubjectAlternativeName
		}
	} else {
		if len(trusted.keys) == 0 {
			res.fail(label, "signature", fmt.Errorf("%w: key-signed bundle but no trusted public key", ErrSignature))
			return nil, false
		}
		var lastErr error
		for _, k := range trusted.keys {
			tm, err := keyMaterial(k, trusted.root)
			if err != nil {
				lastErr = err
				continue
			}
			v, err := verify.NewVerifier(tm, opts...)
			if err != nil {
				lastErr = err
				continue
			}
			vr, err = v.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithKey()))
			if err == nil {
				identity, _ = KeyID(k)
				identity = "public key " + identity
				break
			}
			lastErr = err
		}
		if vr == nil {
			res.fail(label, ruleOf(lastErr), classify(lastErr))
			return nil, false
		}
	}
	st := vr.Statement
	if st == nil {
		res.fail(label, "signature", fmt.Errorf("%w: the envelope holds no in-toto statement", ErrMalformed))
		return nil, false
	}
	kind := kindOf(st.GetPredicateType(), label)
	res.pass(kind, "signature", "DSSE signature verified")
	res.pass(kind, "identity", identity)
	if tlog > 0 {
		res.pass(kind, "transparency-log", fmt.Sprintf("%d entries verified", tlog))
	} else {
		res.skip(kind, "transparency-log", "not required of a key-signed bundle")
	}
	if p.timestamps > 0 {
		res.pass(kind, "timestamps", fmt.Sprintf("%d RFC 3161 timestamps verified", p.timestamps))
	}
	h, _ := sha256Hex(d)
	for _, s := range st.GetSubject() {
		if strings.EqualFold(s.GetDigest()["sha256"], h) {
			res.pass(kind, "subject", fmt.Sprintf("%s is subject %q", d, s.GetName()))
			return st, true
		}
	}
	var names []string
	for _, s := range st.GetSubject() {
		names = append(names, s.GetName())
	}
	res.fail(kind, "subject", fmt.Errorf("%w: no subject of the %s statement (%s) has digest %s", ErrSubjectMismatch, kind, strings.Join(names, ", "), d))
	return nil, false
}

func kindOf(predicateType, fallback string) string {
	switch predicateType {
	case SLSAPredicateType:
		return "provenance"
	case SBOMPredicateType:
		return "sbom"
	case FIPSPredicateType:
		return "fips"
	}
	return fallback
}

// withIdentities accepts any of several identities.
func withIdentities(ids []verify.CertificateIdentity) verify.PolicyOption {
	return func(pc *verify.PolicyConfig) error {
		for _, id := range ids {
			if err := verify.WithCertificateIdentity(id)(pc); err != nil {
				return err
			}
		}
		return nil
	}
}

// keyMaterial is trusted material holding one public key, under any hint:
// like cosign --key, the bundle's key hint is not trusted to select it.
func keyMaterial(k crypto.PublicKey, r root.TrustedMaterial) (root.TrustedMaterial, error) {
	v, err := signature.LoadDefaultVerifier(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	ek := root.NewExpiringKey(v, time.Time{}, time.Time{})
	km := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
	if r == nil {
		return km, nil
	}
	return root.TrustedMaterialCollection{km, r}, nil
}

// ruleOf names the rule a sigstore-go verification error belongs to.
func ruleOf(err error) string {
	switch c := classify(err); {
	case errors.Is(c, ErrTransparencyLog):
		return "transparency-log"
	case errors.Is(c, ErrTimestamp):
		return "timestamps"
	case errors.Is(c, ErrIdentity):
		return "identity"
	}
	return "signature"
}

// classify maps a sigstore-go verification error onto our sentinels.
func classify(err error) error {
	if err == nil {
		return fmt.Errorf("%w: no trusted key verified the bundle", ErrSignature)
	}
	msg := err.Error()
	var invalid x509.CertificateInvalidError
	switch {
	case strings.Contains(msg, "outside certificate validity"), strings.Contains(msg, "outside of public key validity"):
		// A log or TSA time at which the certificate was not valid: expired.
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	case strings.Contains(msg, "failed to verify log inclusion"), strings.Contains(msg, "transparency log"):
		return fmt.Errorf("%w: %v", ErrTransparencyLog, err)
	case strings.Contains(msg, "failed to verify timestamps"), strings.Contains(msg, "threshold not met for verified signed & log entry integrated timestamps"):
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired,
		strings.Contains(msg, "certificate has expired or is not yet valid"):
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	case strings.Contains(msg, "failed to verify certificate identity"):
		return fmt.Errorf("%w: %v", ErrIdentity, err)
	}
	return fmt.Errorf("%w: %v", ErrSignature, err)
}

// checkProvenance applies the provenance rules of a policy.
func checkProvenance(res *Result, st *Statement, p *Policy, now time.Time) {
	const kind = "provenance"
	id := BuilderID(st)
	switch {
	case p.anyBuilder:
		res.skip(kind, "builder-id", "any builder accepted (AnyBuilderUnsafe): "+id)
	case slices.Contains(p.builders, id):
		res.pass(kind, "builder-id", id)
	default:
		res.fail(kind, "builder-id", fmt.Errorf("%w: %q, want one of %s", ErrBuilder, id, strings.Join(p.builders, ", ")))
	}

	pkgs, err := ResolvedPackages(st)
	if err != nil {
		res.fail(kind, "repository-family", err)
		return
	}
	fams := map[vm.RepositoryFamily]int{}
	for _, pk := range pkgs {
		fams[pk.Family]++
	}
	var bad []string
	for f, n := range fams {
		if !slices.Contains(p.families, f) {
			bad = append(bad, fmt.Sprintf("%d packages from %q", n, f))
		}
	}
	slices.Sort(bad)
	switch {
	case fams[vm.Wolfi] > 0 && fams[vm.Chainguard] > 0:
		res.fail(kind, "repository-family", fmt.Errorf("%w: Wolfi (%d packages) and Chainguard OS (%d packages) in one image",
			ErrFamily, fams[vm.Wolfi], fams[vm.Chainguard]))
	case len(bad) > 0:
		res.fail(kind, "repository-family", fmt.Errorf("%w: %s not allowed (allowed: %v)", ErrFamily, strings.Join(bad, ", "), p.families))
	default:
		res.pass(kind, "repository-family", fmt.Sprintf("%d packages from %v", len(pkgs), sortedFamilies(fams)))
	}

	if len(p.denied) == 0 {
		res.skip(kind, "denied-packages", "no package denied")
	} else {
		var hits []string
		for _, pk := range pkgs {
			for _, d := range p.denied {
				if d.name == pk.Name && d.c.matches(pk.Version) {
					hits = append(hits, fmt.Sprintf("%s@%s (denied %s)", pk.Name, pk.Version, d.c.raw))
				}
			}
		}
		if len(hits) > 0 {
			res.fail(kind, "denied-packages", fmt.Errorf("%w: %s", ErrDeniedPackage, strings.Join(hits, ", ")))
		} else {
			res.pass(kind, "denied-packages", fmt.Sprintf("none of %d denials matched", len(p.denied)))
		}
	}

	if p.maxAge == 0 {
		res.skip(kind, "max-age", "no maximum age")
		return
	}
	started := st.GetPredicate().GetFields()["runDetails"].GetStructValue().GetFields()["metadata"].
		GetStructValue().GetFields()["startedOn"].GetStringValue()
	t, err := time.Parse(time.RFC3339Nano, started)
	if err != nil {
		res.fail(kind, "max-age", fmt.Errorf("%w: %w: build time %q: %v", ErrTooOld, ErrMalformed, started, err))
		return
	}
	if age := now.Sub(t); age > p.maxAge {
		res.fail(kind, "max-age", fmt.Errorf("%w: built %s, %s before %s (maximum %s)", ErrTooOld,
			t.UTC().Format(time.RFC3339), age.Round(time.Second), now.UTC().Format(time.RFC3339), p.maxAge))
	} else {
		res.pass(kind, "max-age", fmt.Sprintf("built %s", t.UTC().Format(time.RFC3339)))
	}
}

func sortedFamilies(m map[vm.RepositoryFamily]int) []vm.RepositoryFamily {
	var out []vm.RepositoryFamily
	for f := range m {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func checkFIPS(res *Result, st *Statement) {
	r, err := FIPSReport(st)
	if err != nil {
		res.fail("fips", "fips-report", fmt.Errorf("%w: %w", ErrFIPS, err))
		return
	}
	if !r.Passed() {
		var failed []string
		for _, c := range r.Results {
			if c.Status == "fail" {
				failed = append(failed, string(c.Check))
			}
		}
		res.fail("fips", "fips-report", fmt.Errorf("%w: report does not pass (failed: %s)", ErrFIPS, strings.Join(failed, ", ")))
		return
	}
	res.FIPS = st
	res.pass("fips", "fips-report", fmt.Sprintf("%d checks, all pass or not applicable", len(r.Results)))
}
