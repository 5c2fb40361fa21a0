package builddir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

// Build is a build directory as its signed statements state it.
type Build struct {
	// Contents: Lock is lock.json, the lock the signed provenance attests;
	// Artifacts are the signed provenance's subjects (name, format, digest,
	// root hash, virtual size), the raw disk first; Kernel is the kernel
	// the signed provenance names ("" when the disks do not boot); FIPS is
	// the signed FIPS report, if any.
	Contents
	// Dir is the directory.
	Dir string
	// Ref is the image's reference as the signed subjects name it, with
	// the raw disk's digest.
	Ref vm.Ref
	// Attachments are the files of the layout a catalog entry carries: the
	// SBOM, the provenance and the raw disk's bundle, the signed SBOM
	// statement, and for a FIPS build the FIPS report and its signed
	// statement.
	Attachments []catalog.Attachment
	// Results are the verification's, one per disk; nil for a build read
	// with [ReadUnverifiedUnsafe].
	Results []*provenance.Result

	provenance []byte // the signed provenance, as provenance.MarshalStatement
	policy     *provenance.Policy
	trusted    *provenance.TrustedMaterial
}

// Open verifies the build directory dir as [Verify] does, then reads the
// build from what the signed statements say. A build whose signed spec
// asks for FIPS opens only with a verified, passing FIPS report, whatever
// the policy. A nil policy is provenance.NewPolicy's default. When verification fails it
// returns the failure with a Build holding only Dir and Results (which
// disk failed, and why).
func Open(ctx context.Context, dir string, p *provenance.Policy, trusted *provenance.TrustedMaterial, opts ...Option) (*Build, error) {
	if p == nil {
		var err error
		if p, err = provenance.NewPolicy(); err != nil {
			return nil, err
		}
	}
	results, err := Verify(ctx, dir, p, trusted, opts...)
	if err != nil {
		return &Build{Dir: dir, Results: results}, err
	}
	var fipsSt *provenance.Statement
	for _, r := range results {
		if r.FIPS != nil {
			fipsSt = r.FIPS
		}
	}
	b, err := read(dir, results[0].Provenance, fipsSt)
	if err == nil && b.Lock.Spec.FIPS && fipsSt == nil {
		err = fmt.Errorf("%w: %w: the signed spec asks for FIPS and no signed FIPS report verified", provenance.ErrFIPS, provenance.ErrMissingAttestation)
	}
	if err != nil {
		return &Build{Dir: dir, Results: results}, err
	}
	b.Results, b.policy, b.trusted = results, p, trusted
	return b, nil
}

// ReadUnverifiedUnsafe reads the build in dir from its statements without
// checking any signature: the statements are taken from the bundles as
// they are. It is for tests and for directories that another trusted
// pipeline verified; the Build's Verifier refuses everything.
func ReadUnverifiedUnsafe(dir string) (*Build, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var prov, fipsSt *provenance.Statement
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(n, BundleSuffix) || n == SBOMBundle {
			continue
		}
		b, err := readBundle(dir, n)
		if err != nil {
			return nil, err
		}
		st, err := payload(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		switch {
		case n == FIPSBundle:
			fipsSt = st
		case prov == nil:
			prov = st
		}
	}
	if prov == nil {
		return nil, fmt.Errorf("%w: %s holds no signed provenance (*%s)", ErrInvalid, dir, BundleSuffix)
	}
	return read(dir, prov, fipsSt)
}

// payload returns the in-toto statement a bundle's DSSE envelope carries,
// unverified.
func payload(b *provenance.Bundle) (*provenance.Statement, error) {
	env := b.GetDsseEnvelope()
	if env.GetPayloadType() != provenance.InTotoPayloadType {
		return nil, fmt.Errorf("%w: payload type %q", provenance.ErrMalformed, env.GetPayloadType())
	}
	return provenance.ParseStatement(env.GetPayload())
}

// read makes a Build from the provenance statement of the directory: the
// ref and the disks from its subjects, the kernel from its parameters, the
// lock from lock.json checked against it.
func read(dir string, prov, fipsSt *provenance.Statement) (*Build, error) {
	params, err := provenance.ReadBuildParameters(prov)
	if err != nil {
		return nil, err
	}
	b := &Build{Dir: dir}
	b.Kernel = params.Kernel
	if b.provenance, err = provenance.MarshalStatement(prov); err != nil {
		return nil, err
	}
	subjects := provenance.Subjects(prov)
	i := slices.IndexFunc(subjects, func(s provenance.Subject) bool { return s.Format == string(vm.FormatRaw) })
	if i < 0 {
		return nil, fmt.Errorf("%w: the signed provenance names no raw disk", ErrInvalid)
	}
	raw := subjects[i]
	// The identity: the ref the raw disk is signed as, which must be the
	// one the signed spec builds, with the raw disk's digest.
	ref, err := vm.ParseRef(raw.Ref)
	if err != nil {
		return nil, fmt.Errorf("%w: the raw disk's signed ref: %w", ErrInvalid, err)
	}
	want := params.Spec.Ref()
	want.Digest = digest.Digest(raw.Digest)
	if ref.Digest == "" {
		ref.Digest = want.Digest
	}
	if ref != want {
		return nil, fmt.Errorf("%w: %w: the raw disk is signed as %s, the signed spec builds %s", ErrInvalid, provenance.ErrSubjectMismatch, ref, want)
	}
	b.Ref = ref
	order := append([]provenance.Subject{raw}, slices.Delete(slices.Clone(subjects), i, i+1)...)
	for _, s := range order {
		a, err := diskOf(dir, s, ref)
		if err != nil {
			return nil, err
		}
		b.Artifacts = append(b.Artifacts, a)
	}
	if b.Lock, err = readLock(dir); err != nil {
		return nil, err
	}
	if err := provenance.CheckLock(prov, b.Lock); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, LockFile), err)
	}
	if fipsSt != nil {
		if b.FIPS, err = provenance.FIPSReport(fipsSt); err != nil {
			return nil, err
		}
	}
	// Everything a verifier of the catalog entry needs: the signed
	// provenance, SBOM and FIPS report statements, and their copies for
	// people. The FIPS files are there only for a FIPS build.
	for _, f := range []struct {
		kind     catalog.AttachmentKind
		name     string
		optional bool
	}{{catalog.SBOM, SBOMFile, false}, {catalog.Provenance, ProvenanceFile, false}, {catalog.Bundle, BundleFile(raw.Name), false},
		{catalog.SBOMBundle, SBOMBundle, false}, {catalog.FIPSReport, FIPSReportFile, fipsSt == nil}, {catalog.FIPSBundle, FIPSBundle, fipsSt == nil}} {
		a, err := attachment(f.kind, dir, f.name)
		if errors.Is(err, os.ErrNotExist) && f.optional {
			continue
		}
		if err != nil {
			return nil, err
		}
		b.Attachments = append(b.Attachments, a)
	}
	return b, nil
}

// diskOf returns the artifact a signed subject names: a disk file of dir
// of the build ref.
func diskOf(dir string, s provenance.Subject, ref vm.Ref) (artifact.Artifact, error) {
	f := vm.DiskFormat(s.Format)
	switch {
	case s.Name == "" || s.Name != filepath.Base(s.Name) || s.Name == "." || s.Name == ".." || strings.ContainsRune(s.Name, '\\') || attestationFile(s.Name):
		return artifact.Artifact{}, fmt.Errorf("%w: signed subject %q is not a disk file name", ErrInvalid, s.Name)
	case !f.Valid():
		return artifact.Artifact{}, fmt.Errorf("%w: signed subject %s has format %q", ErrInvalid, s.Name, s.Format)
	}
	if r, err := vm.ParseRef(s.Ref); err != nil || r.Stream() != ref.Stream() || r.Version != ref.Version {
		return artifact.Artifact{}, fmt.Errorf("%w: %w: %s is signed as %q, the raw disk as %s", ErrInvalid, provenance.ErrSubjectMismatch, s.Name, s.Ref, ref)
	}
	path := filepath.Join(dir, s.Name)
	fi, err := os.Stat(path)
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("%w: %w", provenance.ErrSubjectMismatch, err)
	}
	a := artifact.Artifact{Ref: ref, Format: f, Path: path, Size: fi.Size(), VirtualSize: s.VirtualSize,
		Digest: digest.Digest(s.Digest), RootHash: s.RootHash}
	if a.VirtualSize == 0 && f == vm.FormatRaw {
		a.VirtualSize = a.Size
	}
	return a, nil
}

func attachment(kind catalog.AttachmentKind, dir, name string) (catalog.Attachment, error) {
	path := filepath.Join(dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		return catalog.Attachment{}, fmt.Errorf("%w: %w", provenance.ErrMissingAttestation, err)
	}
	d, err := provenance.FileDigest(path)
	if err != nil {
		return catalog.Attachment{}, err
	}
	return catalog.Attachment{Kind: kind, MediaType: kind.DefaultMediaType(), Digest: d, Size: fi.Size(), Path: path}, nil
}

// Entry returns the catalog entry of the build: its ref, disks and
// attachments, and the package list and kernel package of its lock.
func (b *Build) Entry() (catalog.Entry, error) {
	e, err := catalog.NewEntry(b.Lock, b.Artifacts, b.Attachments...)
	if err != nil {
		return catalog.Entry{}, err
	}
	if e.Ref != b.Ref {
		return catalog.Entry{}, fmt.Errorf("%w: the entry is %s, the signed ref %s", ErrInvalid, e.Ref, b.Ref)
	}
	return e, nil
}

// Release returns what catalog.Publish takes: the entry and the disks.
func (b *Build) Release() (catalog.Release, error) {
	e, err := b.Entry()
	if err != nil {
		return catalog.Release{}, err
	}
	return catalog.Release{Entry: e, Artifacts: slices.Clone(b.Artifacts)}, nil
}

// Verifier returns the verifier catalog.Publish runs before registering
// anything: it verifies every disk of the release again, under the policy
// and trusted material Open verified with, from the bundles in the
// directory, and checks that the signed provenance is still the one Open
// read. It verifies the signatures over each disk's digest as the release
// records it (which Open computed from the file) and does not read the disk
// again: every registrar and store reads the files it sends through
// catalog.OpenArtifact, which hashes the bytes as it sends them and refuses
// a file whose digest is not that one. The verifier of a build read
// unverified refuses everything.
func (b *Build) Verifier() catalog.Verifier {
	return catalog.VerifierFunc(func(ctx context.Context, r *catalog.Release) error {
		if b.policy == nil {
			return fmt.Errorf("%w: %s was read unverified: nothing to verify with", provenance.ErrVerification, b.Dir)
		}
		if r.Entry.Ref != b.Ref {
			return fmt.Errorf("%w: the release is %s, the build %s", provenance.ErrSubjectMismatch, r.Entry.Ref, b.Ref)
		}
		var more []*provenance.Bundle
		for _, name := range []string{SBOMBundle, FIPSBundle} {
			bb, err := readBundle(b.Dir, name)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			more = append(more, bb)
		}
		for _, a := range r.Artifacts {
			if filepath.Dir(a.Path) != filepath.Clean(b.Dir) {
				return fmt.Errorf("%w: %s is not a disk of %s", ErrInvalid, a.Path, b.Dir)
			}
			bb, err := readBundle(b.Dir, BundleFile(a.Name()))
			if err != nil {
				return fmt.Errorf("%s: %w", a.Name(), err)
			}
			// The recorded digest, not the file: see above.
			byDigest := a
			byDigest.Path = ""
			res, err := provenance.Verify(ctx, byDigest, bb, b.policy, b.trusted, more...)
			if err != nil {
				return fmt.Errorf("%s: %w", a.Name(), err)
			}
			st, err := provenance.MarshalStatement(res.Provenance)
			if err != nil || !bytes.Equal(st, b.provenance) {
				return fmt.Errorf("%w: %s: its signed provenance is not the one the build was read from", provenance.ErrSubjectMismatch, a.Name())
			}
		}
		return nil
	})
}
