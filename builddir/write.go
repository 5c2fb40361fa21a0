package builddir

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/fips"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// Contents is what a build puts in its directory besides the disks: what
// [Write] signs, and what [Open] reads back from the signed statements.
type Contents struct {
	// Lock is the lock the build installed (after image.Build, which
	// records the packages' digests in it).
	Lock *artifact.Lock
	// Artifacts are the disks, files in the directory, the raw disk first.
	Artifacts []artifact.Artifact
	// Kernel is the version of the kernel the disks boot; "" when the
	// image has no kernel and its disks do not boot.
	Kernel string
	// FIPS is the FIPS report of an image built with fips: true.
	FIPS *fips.Report
}

// Write signs and writes into dir, beside the disks, the files of the
// layout: [LockFile]; [SBOMFile] and [ProvenanceFile]; the signed
// provenance ([BundleFile]) of each disk; [SBOMBundle]; with a FIPS
// report, [FIPSReportFile] and [FIPSBundle]; and for a key-signed build
// [PublicKeyFile]. The provenance records the lock's digest and the kernel
// (provenance.WithKernel), so that the directory alone says what the build
// is. opts configure the documents (provenance.WithBuilderID, …). Each
// file is written atomically.
func Write(ctx context.Context, dir string, c Contents, s *provenance.Signer, opts ...provenance.Option) error {
	if s == nil {
		return fmt.Errorf("%w: nil signer", provenance.ErrInput)
	}
	if err := c.check(dir); err != nil {
		return err
	}
	if c.Kernel != "" {
		opts = append(slices.Clip(opts), provenance.WithKernel(c.Kernel))
	}
	doc, err := provenance.SBOM(c.Lock, c.Artifacts, opts...)
	if err != nil {
		return err
	}
	st, err := provenance.SLSA(c.Lock, c.Artifacts, opts...)
	if err != nil {
		return err
	}
	sst, err := provenance.SBOMStatement(doc, c.Artifacts)
	if err != nil {
		return err
	}
	sbomJSON, err := provenance.MarshalSBOM(doc)
	if err != nil {
		return err
	}
	provJSON, err := provenance.MarshalStatementIndent(st)
	if err != nil {
		return err
	}
	lockJSON, err := json.MarshalIndent(c.Lock, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: lock: %v", provenance.ErrInput, err)
	}
	files := map[string][]byte{LockFile: append(lockJSON, '\n'), SBOMFile: sbomJSON, ProvenanceFile: provJSON}
	sign := func(st *provenance.Statement) ([]byte, error) {
		b, err := s.Sign(ctx, st)
		if err != nil {
			return nil, err
		}
		return provenance.MarshalBundle(b)
	}
	pb, err := sign(st)
	if err != nil {
		return err
	}
	for _, a := range c.Artifacts {
		files[BundleFile(a.Name())] = pb
	}
	if files[SBOMBundle], err = sign(sst); err != nil {
		return err
	}
	if c.FIPS != nil {
		fst, err := provenance.FIPSStatement(c.FIPS, c.Artifacts)
		if err != nil {
			return err
		}
		if files[FIPSBundle], err = sign(fst); err != nil {
			return err
		}
		rj, err := json.MarshalIndent(c.FIPS, "", "  ")
		if err != nil {
			return fmt.Errorf("%w: FIPS report: %v", provenance.ErrInput, err)
		}
		files[FIPSReportFile] = append(rj, '\n')
	}
	if !s.Keyless() {
		if files[PublicKeyFile], err = provenance.MarshalPublicKeyPEM(s.PublicKey()); err != nil {
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

// check checks that c describes disks of dir, the raw one first, each
// named as a disk and none as a file of the layout.
func (c *Contents) check(dir string) error {
	if c.Lock == nil {
		return fmt.Errorf("%w: nil lock", provenance.ErrInput)
	}
	if len(c.Artifacts) == 0 {
		return fmt.Errorf("%w: no disks", ErrInvalid)
	}
	if c.Artifacts[0].Format != vm.FormatRaw {
		return fmt.Errorf("%w: the first disk is %s, want the raw disk", ErrInvalid, c.Artifacts[0].Format)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for _, a := range c.Artifacts {
		p, err := filepath.Abs(a.Path)
		if err != nil || filepath.Dir(p) != abs {
			return fmt.Errorf("%w: disk %s is not in %s", ErrInvalid, a.Path, dir)
		}
		if attestationFile(a.Name()) {
			return fmt.Errorf("%w: disk %s has the name of a file of the layout", ErrInvalid, a.Name())
		}
	}
	return nil
}
