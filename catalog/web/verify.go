package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/spdx/tools-golang/spdx"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// State is the outcome of verifying an entry.
type State string

// The states of a verification.
const (
	// Verified: every rule passed and every byte was read.
	Verified State = "verified"
	// Failed: a rule failed.
	Failed State = "failed"
	// Incomplete: no rule failed, but a file could not be read, so the
	// entry is not proven (the badge is not green).
	Incomplete State = "incomplete"
	// Unchecked: not verified yet.
	Unchecked State = "unchecked"
)

// Verifier verifies catalog entries from their signed attestations, with
// the keys or trusted root and the policy the server was given. Nothing it
// reports is copied from the catalog: it reads every artifact's bytes and
// hashes them, checks the signed provenance, SBOM and FIPS statements with
// [provenance.Verify], and compares what the catalog records (packages,
// verity root hash, the unsigned copies) with what was signed.
type Verifier struct {
	policy  *provenance.Policy
	trusted *provenance.TrustedMaterial
}

// NewVerifier returns a verifier under policy p (nil: the default policy)
// trusting tm (nil: nothing, so every signature fails).
func NewVerifier(p *provenance.Policy, tm *provenance.TrustedMaterial) (*Verifier, error) {
	if p == nil {
		var err error
		if p, err = provenance.NewPolicy(); err != nil {
			return nil, err
		}
	}
	if tm == nil {
		tm = &provenance.TrustedMaterial{}
	}
	return &Verifier{policy: p, trusted: tm}, nil
}

// Verification is what verifying one entry found: every rule, in order,
// and the statements that verified.
type Verification struct {
	Ref     vm.Ref            `json:"ref"`
	State   State             `json:"state"`
	Checked time.Time         `json:"checked"`
	Rules   []provenance.Rule `json:"rules"`
	// RootHash is the dm-verity root hash of the raw disk as the verified
	// provenance signs it ("" unless verified).
	RootHash string `json:"root_hash,omitempty"`
	// Builder is the builder id of the verified provenance.
	Builder string `json:"builder,omitempty"`

	sbom       *spdx.Document
	sbomSigned bool
	prov       *provenance.Statement
	provSigned bool
	fipsReport *fips.Report
	fipsSigned bool
}

// Passed reports whether the entry verified.
func (v *Verification) Passed() bool { return v != nil && v.State == Verified }

// Failed returns the failed rules.
func (v *Verification) Failed() []provenance.Rule {
	var out []provenance.Rule
	for _, r := range v.Rules {
		if r.Outcome == provenance.Fail {
			out = append(out, r)
		}
	}
	return out
}

// ruleSet collects rules and whether something could not be read.
type ruleSet struct {
	rules      []provenance.Rule
	incomplete bool
}

func (s *ruleSet) pass(att, artifact, name, detail string) {
	s.rules = append(s.rules, provenance.Rule{Name: name, Attestation: att, Artifact: artifact, Outcome: provenance.Pass, Detail: detail})
}

func (s *ruleSet) skip(att, artifact, name, detail string) {
	s.rules = append(s.rules, provenance.Rule{Name: name, Attestation: att, Artifact: artifact, Outcome: provenance.Skipped, Detail: detail})
}

// unread records a file that could not be read: skipped, and the result
// cannot be Verified.
func (s *ruleSet) unread(att, artifact, name string, err error) {
	s.incomplete = true
	s.skip(att, artifact, name, "not checked: "+err.Error())
}

func (s *ruleSet) fail(att, artifact, name string, err error) {
	s.rules = append(s.rules, provenance.Rule{Name: name, Attestation: att, Artifact: artifact, Outcome: provenance.Fail, Err: err, Error: err.Error()})
}

// maxAttachment bounds an attachment read into memory.
const maxAttachment = provenance.MaxDocumentSize

// Verify verifies e, reading its files from files (nil: none can be read).
// It never fails: what it could not do is in the rules. now stamps the
// result.
func (v *Verifier) Verify(ctx context.Context, e catalog.Entry, files Files, now time.Time) *Verification {
	out := &Verification{Ref: e.Ref, Checked: now}
	var rs ruleSet
	atts := map[catalog.AttachmentKind][]byte{}
	for _, a := range e.Attachments {
		b, err := readAttachment(ctx, files, a)
		switch {
		case errors.Is(err, ErrUnavailable):
			rs.unread(string(a.Kind), "", "file", err)
		case err != nil:
			rs.fail(string(a.Kind), "", "file", err)
		default:
			rs.pass(string(a.Kind), "", "file", fmt.Sprintf("%s, %d bytes", a.Digest, a.Size))
			atts[a.Kind] = b
		}
	}
	bundle := func(k catalog.AttachmentKind) *provenance.Bundle {
		b, ok := atts[k]
		if !ok {
			return nil
		}
		pb, err := provenance.ParseBundle(b)
		if err != nil {
			rs.fail(string(k), "", "bundle", err)
			return nil
		}
		return pb
	}
	prov := bundle(catalog.Bundle)
	var more []*provenance.Bundle
	for _, k := range []catalog.AttachmentKind{catalog.SBOMBundle, catalog.FIPSBundle} {
		if b := bundle(k); b != nil {
			more = append(more, b)
		}
	}
	_, recorded := e.Attachment(catalog.Bundle)
	if !recorded {
		rs.fail("provenance", "", "bundle", fmt.Errorf("%w: %w: the catalog records no signed provenance for %s", provenance.ErrVerification, provenance.ErrMissingAttestation, e.Ref))
	}

	var signed *provenance.Result
	for _, a := range e.Artifacts {
		digest := a.Digest
		got, err := hashFile(ctx, files, a.Name, a.Digest, a.Size)
		switch {
		case errors.Is(err, ErrUnavailable):
			rs.unread("", a.Name, "artifact-bytes", err)
		case err != nil:
			rs.fail("", a.Name, "artifact-bytes", err)
			if got != "" {
				digest = got // what the bytes are: the signature check below then fails too
			}
		default:
			rs.pass("", a.Name, "artifact-bytes", fmt.Sprintf("%d bytes read, %s", a.Size, got))
		}
		if prov == nil {
			continue // no signed provenance to check against: said above
		}
		r, _ := provenance.Verify(ctx, artifact.Artifact{Ref: e.Ref, Format: a.Format, Size: a.Size, Digest: digest}, prov, v.policy, v.trusted, more...)
		for _, rule := range r.Rules {
			rule.Artifact = a.Name
			rs.rules = append(rs.rules, rule)
		}
		if signed == nil && r.Provenance != nil {
			signed = r
		}
	}
	v.compare(&rs, e, signed, atts, out)

	out.Rules = rs.rules
	switch {
	case slices.ContainsFunc(rs.rules, func(r provenance.Rule) bool { return r.Outcome == provenance.Fail }):
		out.State = Failed
	case rs.incomplete || signed == nil:
		out.State = Incomplete
	default:
		out.State = Verified
	}
	return out
}

// compare checks what the catalog records against the signed statements,
// and keeps the documents to show: signed ones when verified, else the
// unsigned copies (marked so).
func (v *Verifier) compare(rs *ruleSet, e catalog.Entry, signed *provenance.Result, atts map[catalog.AttachmentKind][]byte, out *Verification) {
	if signed != nil {
		out.prov, out.provSigned = signed.Provenance, true
		out.Builder = provenance.BuilderID(signed.Provenance)
		// The package list the catalog's deltas are computed from.
		pkgs, err := provenance.ResolvedPackages(signed.Provenance)
		if err == nil {
			err = samePackages(e.Packages, pkgs)
		}
		if err != nil {
			rs.fail("catalog", "", "packages", err)
		} else {
			rs.pass("catalog", "", "packages", fmt.Sprintf("the catalog's %d packages are the signed provenance's", len(e.Packages)))
		}
		// The verity root hash the catalog shows.
		for _, a := range e.Artifacts {
			for _, s := range provenance.Subjects(signed.Provenance) {
				if s.Digest != string(a.Digest) || s.RootHash == "" {
					continue
				}
				if out.RootHash == "" {
					out.RootHash = s.RootHash
				}
				if a.RootHash != "" && !strings.EqualFold(a.RootHash, s.RootHash) {
					rs.fail("catalog", a.Name, "root-hash", fmt.Errorf("%w: the catalog records root hash %s, the signed provenance %s", ErrMismatch, a.RootHash, s.RootHash))
				} else if a.RootHash != "" {
					rs.pass("catalog", a.Name, "root-hash", s.RootHash)
				}
			}
		}
		if b, ok := atts[catalog.Provenance]; ok {
			rs.copyOf("provenance", b, func() ([]byte, error) { return provenance.MarshalStatement(signed.Provenance) })
		}
		if signed.SBOM != nil {
			if doc, err := provenance.StatementSBOM(signed.SBOM); err == nil {
				out.sbom, out.sbomSigned = doc, true
			}
			if b, ok := atts[catalog.SBOM]; ok {
				rs.copyOf("sbom", b, func() ([]byte, error) { return signed.SBOM.GetPredicate().MarshalJSON() })
			}
		}
		if signed.FIPS != nil {
			if r, err := provenance.FIPSReport(signed.FIPS); err == nil {
				out.fipsReport, out.fipsSigned = r, true
			}
			if b, ok := atts[catalog.FIPSReport]; ok {
				rs.copyOf("fips", b, func() ([]byte, error) { return signed.FIPS.GetPredicate().MarshalJSON() })
			}
		}
	}
	// The unsigned copies, shown as such when nothing signed verified.
	if out.prov == nil {
		if b, ok := atts[catalog.Provenance]; ok {
			if st, err := provenance.ParseStatement(b); err == nil && st.GetPredicateType() == provenance.SLSAPredicateType {
				out.prov = st
			}
		}
	}
	if out.sbom == nil {
		if b, ok := atts[catalog.SBOM]; ok {
			if doc, err := provenance.ParseSBOM(bytes.NewReader(b)); err == nil {
				out.sbom = doc
			}
		}
	}
	if out.fipsReport == nil {
		if b, ok := atts[catalog.FIPSReport]; ok {
			var r fips.Report
			if json.Unmarshal(b, &r) == nil {
				out.fipsReport = &r
			}
		}
	}
}

// copyOf checks that an unsigned copy says what the signed statement says.
func (s *ruleSet) copyOf(kind string, copyJSON []byte, signedJSON func() ([]byte, error)) {
	sj, err := signedJSON()
	var x, y any
	if err == nil {
		err = json.Unmarshal(sj, &y)
	}
	if err == nil {
		err = json.Unmarshal(copyJSON, &x)
	}
	switch {
	case err != nil:
		s.fail(kind, "", "unsigned-copy", fmt.Errorf("%w: the unsigned %s: %v", ErrMismatch, kind, err))
	case !reflect.DeepEqual(x, y):
		s.fail(kind, "", "unsigned-copy", fmt.Errorf("%w: the unsigned %s differs from the signed statement", ErrMismatch, kind))
	default:
		s.pass(kind, "", "unsigned-copy", "equals the signed statement")
	}
}

// samePackages checks the catalog's package list against the signed one.
func samePackages(have []catalog.Package, signed []provenance.PackageRef) error {
	want := map[string]string{}
	for _, p := range signed {
		want[p.Name] = p.Version
	}
	var diffs []string
	for _, p := range have {
		v, ok := want[p.Name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s %s is not in the signed provenance", p.Name, p.Version))
		case v != p.Version:
			diffs = append(diffs, fmt.Sprintf("%s is %s, signed %s", p.Name, p.Version, v))
		}
		delete(want, p.Name)
	}
	for n, v := range want {
		diffs = append(diffs, fmt.Sprintf("%s %s is signed but not in the catalog", n, v))
	}
	if len(diffs) == 0 {
		return nil
	}
	slices.Sort(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return fmt.Errorf("%w: packages: %s", ErrMismatch, strings.Join(diffs, "; "))
}

// readAttachment reads a small attachment and checks its digest.
func readAttachment(ctx context.Context, files Files, a catalog.Attachment) ([]byte, error) {
	if a.Size < 0 || a.Size > maxAttachment {
		return nil, fmt.Errorf("web: %s: %d bytes (limit %d)", a.Kind, a.Size, maxAttachment)
	}
	if files == nil {
		return nil, fmt.Errorf("%w: no file source", ErrUnavailable)
	}
	rc, err := files.Open(ctx, a.Digest, a.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	h, n, err := hashReader(ctx, io.TeeReader(rc, &buf), a.Size)
	if err != nil {
		return nil, fmt.Errorf("web: reading %s: %w", a.Kind, err)
	}
	if n != a.Size {
		return nil, &DigestError{What: string(a.Kind), Want: a.Digest, Size: n}
	}
	if h != a.Digest {
		return nil, &DigestError{What: string(a.Kind), Want: a.Digest, Got: h, Size: n}
	}
	return buf.Bytes(), nil
}

// hashFile reads a file of files and returns its digest; an error when it
// is not the recorded one (with the digest read, when the size was right).
func hashFile(ctx context.Context, files Files, what string, d digest.Digest, size int64) (digest.Digest, error) {
	if files == nil {
		return "", fmt.Errorf("%w: no file source", ErrUnavailable)
	}
	rc, err := files.Open(ctx, d, size)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	got, n, err := hashReader(ctx, rc, size)
	switch {
	case n != size:
		if err == nil {
			err = &DigestError{What: what, Want: d, Size: n}
		}
		return "", fmt.Errorf("web: reading %s: %w", what, err)
	case got != d:
		// A registry that checks digests reports the mismatch as a read
		// error at the end: the digest of the bytes says more.
		return got, &DigestError{What: what, Want: d, Got: got, Size: n}
	case err != nil:
		return "", fmt.Errorf("web: reading %s: %w", what, err)
	}
	return got, nil
}
