package provenance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/internal/atomicfile"
	digest "github.com/opencontainers/go-digest"
)

// The files of a build output directory, beside the artifacts.
const (
	SBOMFile       = "sbom.spdx.json"         // the SPDX document
	ProvenanceFile = "provenance.intoto.json" // the SLSA statement, for people
	SBOMBundle     = "sbom.sigstore.json"     // the signed SBOM statement
	FIPSReportFile = "fips-report.json"       // the FIPS report, for people
	FIPSBundle     = "fips.sigstore.json"     // the signed FIPS report statement
	PublicKeyFile  = "key.pub"                // the public key of a key-signed build
	BundleSuffix   = ".sigstore.json"         // <artifact>.sigstore.json: the signed provenance
)

// diskSuffixes name the files VerifyDir treats as artifacts that must be
// attested.
var diskSuffixes = []string{".raw", ".img", ".qcow2", ".vhd", ".vmdk", ".tar.gz", ".ova"}

// WriteDir signs and writes the attestations of a build into dir, beside the
// artifacts: SBOMFile and ProvenanceFile; <artifact>.sigstore.json (the
// signed provenance, one copy per artifact) for each artifact; SBOMBundle;
// with a FIPS report, FIPSReportFile and FIPSBundle; and for a key-signed
// build, PublicKeyFile. Each file is written atomically.
func WriteDir(ctx context.Context, dir string, lock *artifact.Lock, artifacts []artifact.Artifact, s *Signer, report *fips.Report, opts ...Option) error {
	if s == nil {
		return fmt.Errorf("%w: nil signer", ErrInput)
	}
	doc, err := SBOM(lock, artifacts, opts...)
	if err != nil {
		return err
	}
	st, err := SLSA(lock, artifacts, opts...)
	if err != nil {
		return err
	}
	sst, err := SBOMStatement(doc, artifacts)
	if err != nil {
		return err
	}
	sbomJSON, err := MarshalSBOM(doc)
	if err != nil {
		return err
	}
	provJSON, err := MarshalStatementIndent(st)
	if err != nil {
		return err
	}
	files := map[string][]byte{SBOMFile: sbomJSON, ProvenanceFile: provJSON}
	sign := func(st *Statement) ([]byte, error) {
		b, err := s.Sign(ctx, st)
		if err != nil {
			return nil, err
		}
		return MarshalBundle(b)
	}
	pb, err := sign(st)
	if err != nil {
		return err
	}
	for _, a := range artifacts {
		files[a.Name()+BundleSuffix] = pb
	}
	if files[SBOMBundle], err = sign(sst); err != nil {
		return err
	}
	if report != nil {
		fst, err := FIPSStatement(report, artifacts)
		if err != nil {
			return err
		}
		if files[FIPSBundle], err = sign(fst); err != nil {
			return err
		}
		rj, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return fmt.Errorf("%w: FIPS report: %v", ErrInput, err)
		}
		files[FIPSReportFile] = append(rj, '\n')
	}
	if !s.Keyless() {
		if files[PublicKeyFile], err = MarshalPublicKeyPEM(s.PublicKey()); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := atomicfile.WriteBytes(filepath.Join(dir, n), 0o644, files[n]); err != nil {
			return err
		}
	}
	return nil
}

// DirOption configures [VerifyDir].
type DirOption func(*dirOptions) error

type dirOptions struct {
	rootHash func(ctx context.Context, path string) (string, error)
}

// WithRootHashReader makes VerifyDir read each disk's dm-verity root hash
// with f and compare it with the root hash the signed provenance records.
// An error wrapping errors.ErrUnsupported (a format f cannot read) skips
// the rule for that disk; any other error fails it. image.ReadRootHashFile
// reads raw disks.
func WithRootHashReader(f func(ctx context.Context, path string) (string, error)) DirOption {
	return func(o *dirOptions) error {
		if f == nil {
			return fmt.Errorf("%w: nil root hash reader", ErrOption)
		}
		o.rootHash = f
		return nil
	}
}

// VerifyDir verifies a build output directory: every artifact (a file with
// a <name>.sigstore.json beside it, or a disk file by its suffix, which then
// fails as unattested) against its provenance bundle, SBOMBundle and, when
// present, FIPSBundle under the policy; that ProvenanceFile and SBOMFile say
// what the signed statements say; that every subject of the signed
// provenance is present; and, with [WithRootHashReader], the verity root
// hash. It returns one Result per artifact, sorted by name.
func VerifyDir(ctx context.Context, dir string, p *Policy, trusted *TrustedMaterial, opts ...DirOption) ([]*Result, error) {
	o := &dirOptions{}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			have[e.Name()] = true
		}
	}
	var arts []string
	for n := range have {
		if strings.HasSuffix(n, BundleSuffix) || n == SBOMFile || n == ProvenanceFile || n == FIPSReportFile || n == PublicKeyFile {
			continue
		}
		if have[n+BundleSuffix] || slices.ContainsFunc(diskSuffixes, func(s string) bool { return strings.HasSuffix(n, s) }) {
			arts = append(arts, n)
		}
	}
	slices.Sort(arts)
	if len(arts) == 0 {
		return nil, fmt.Errorf("%w: %w: no artifacts in %s", ErrVerification, ErrMissingAttestation, dir)
	}
	load := func(name string) (*Bundle, error) {
		if !have[name] {
			return nil, nil
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out, err := ParseBundle(b)
		if err != nil {
			var de *DocumentError
			if errors.As(err, &de) {
				de.Name = name
			}
			return nil, err
		}
		return out, nil
	}
	sbom, sbomErr := load(SBOMBundle)
	fipsB, fipsErr := load(FIPSBundle)

	var results []*Result
	var errs []error
	subjectsSeen := map[string]bool{}
	var signedSubjects []Subject
	for _, name := range arts {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		path := filepath.Join(dir, name)
		res := &Result{Artifact: name}
		prov, err := load(name + BundleSuffix)
		switch {
		case err != nil:
			res.fail("provenance", "bundle", err)
		case prov == nil:
			res.fail("provenance", "bundle", fmt.Errorf("%w: %s has no %s", ErrUnattested, name, name+BundleSuffix))
		}
		if sbomErr != nil {
			res.fail("sbom", "bundle", sbomErr)
		}
		if fipsErr != nil {
			res.fail("fips", "bundle", fipsErr)
		}
		if prov != nil {
			more := []*Bundle{}
			if sbom != nil {
				more = append(more, sbom)
			}
			if fipsB != nil {
				more = append(more, fipsB)
			}
			vr, _ := Verify(ctx, artifact.Artifact{Path: path}, prov, p, trusted, more...)
			vr.Artifact = name
			for i := range vr.Rules {
				vr.Rules[i].Artifact = name
			}
			vr.Rules = append(res.Rules, vr.Rules...)
			res = vr
			if res.Provenance != nil {
				for _, s := range Subjects(res.Provenance) {
					if !subjectsSeen[s.Name] {
						subjectsSeen[s.Name] = true
						signedSubjects = append(signedSubjects, s)
					}
				}
				checkFiles(res, dir, res.Provenance, res.SBOM)
				checkRootHash(ctx, res, path, res.Provenance, o)
			}
		}
		results = append(results, res)
		if err := res.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range signedSubjects {
		if !have[s.Name] {
			res := &Result{Artifact: s.Name, Digest: s.Digest}
			res.fail("provenance", "artifact-present", fmt.Errorf("%w: the signed provenance names %s (%s) but %s has no such file",
				ErrSubjectMismatch, s.Name, s.Digest, dir))
			results = append(results, res)
			errs = append(errs, res.Err())
		}
	}
	return results, errors.Join(errs...)
}

// checkFiles checks that the unsigned copies for people say what the signed
// statements say.
func checkFiles(res *Result, dir string, prov, sbom *Statement) {
	compare := func(file, what string, signed []byte) {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			res.fail(what, file, fmt.Errorf("%w: %v", ErrMissingAttestation, err))
			return
		}
		var x, y any
		if err := json.Unmarshal(b, &x); err != nil {
			res.fail(what, file, malformed(what, file, "%v", err))
			return
		}
		if err := json.Unmarshal(signed, &y); err != nil || !reflect.DeepEqual(x, y) {
			res.fail(what, file, fmt.Errorf("%w: %s differs from the signed %s statement", ErrSignature, file, what))
			return
		}
		res.pass(what, file, "equals the signed statement")
	}
	if b, err := stableJSON(prov, ""); err == nil {
		compare(ProvenanceFile, "provenance", b)
	}
	if sbom != nil {
		if b, err := sbom.GetPredicate().MarshalJSON(); err == nil {
			compare(SBOMFile, "sbom", b)
		}
	}
}

func checkRootHash(ctx context.Context, res *Result, path string, prov *Statement, o *dirOptions) {
	h, _ := sha256Hex(digest.Digest(res.Digest))
	var signed string
	for _, s := range Subjects(prov) {
		if s.Digest == "sha256:"+h {
			signed = s.RootHash
		}
	}
	switch {
	case signed == "":
		res.skip("provenance", "verity-root-hash", "the provenance records no root hash for this artifact")
	case o.rootHash == nil:
		res.skip("provenance", "verity-root-hash", "signed root hash "+signed+" (disk not read: no root hash reader)")
	default:
		got, err := o.rootHash(ctx, path)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			res.skip("provenance", "verity-root-hash", "signed root hash "+signed+" ("+filepath.Base(path)+" not readable: "+err.Error()+")")
		case err != nil:
			res.fail("provenance", "verity-root-hash", fmt.Errorf("%w: reading %s: %v", ErrRootHash, filepath.Base(path), err))
		case !bytes.EqualFold([]byte(got), []byte(signed)):
			res.fail("provenance", "verity-root-hash", fmt.Errorf("%w: disk has %s, the signed provenance says %s", ErrRootHash, got, signed))
		default:
			res.pass("provenance", "verity-root-hash", signed)
		}
	}
}
