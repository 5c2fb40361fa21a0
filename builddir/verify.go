package builddir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/provenance"
)

// Option configures [Verify] and [Open].
type Option func(*options) error

type options struct {
	rootHash func(ctx context.Context, path string) (string, error)
	written  map[string]artifact.Artifact // by file name
}

// WithWrittenDisks gives Verify and Open the digests of disks the caller
// itself wrote into the directory and hashed while writing them, in this
// process (hardvm.Build does, for the disks it has just exported): each
// such disk, if its file still has the size written, is verified against
// that digest without being read again. Every other disk is read. Never
// give it digests of files that came from elsewhere.
func WithWrittenDisks(arts ...artifact.Artifact) Option {
	return func(o *options) error {
		if o.written == nil {
			o.written = map[string]artifact.Artifact{}
		}
		for _, a := range arts {
			if a.Path == "" || a.Digest.Validate() != nil {
				return fmt.Errorf("%w: a written disk needs its path and digest (%q, %q)", provenance.ErrOption, a.Path, a.Digest)
			}
			o.written[filepath.Base(a.Path)] = a
		}
		return nil
	}
}

// WithRootHashReader makes Verify read each disk's dm-verity root hash
// with f and compare it with the root hash the signed provenance records.
// An error wrapping errors.ErrUnsupported (a format f cannot read) skips
// the rule for that disk; any other error fails it. hardvm.RootHashReader
// reads raw disks.
func WithRootHashReader(f func(ctx context.Context, path string) (string, error)) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: nil root hash reader", provenance.ErrOption)
		}
		o.rootHash = f
		return nil
	}
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Verify verifies a build directory: every disk (a file with a
// <name>.sigstore.json beside it, or a disk file by its suffix, which then
// fails as unattested) against its signed provenance, [SBOMBundle] and,
// when present, [FIPSBundle] under the policy; that every disk's signed
// provenance is the same statement; that [ProvenanceFile] and [SBOMFile]
// say what the signed statements say; that [LockFile] is the lock the
// signed provenance attests; that every subject of the signed provenance
// is present; and, with [WithRootHashReader], the verity root hash. It
// returns one Result per disk, sorted by name, and the failures joined
// (errors of the provenance.ErrVerification tree). Every file is read
// with a bound before it is parsed.
func Verify(ctx context.Context, dir string, p *provenance.Policy, trusted *provenance.TrustedMaterial, opts ...Option) ([]*provenance.Result, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", provenance.ErrInput, err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			have[e.Name()] = true
		}
	}
	var disks []string
	for n := range have {
		if attestationFile(n) {
			continue
		}
		if have[BundleFile(n)] || slices.ContainsFunc(diskSuffixes, func(s string) bool { return strings.HasSuffix(n, s) }) {
			disks = append(disks, n)
		}
	}
	slices.Sort(disks)
	if len(disks) == 0 {
		return nil, fmt.Errorf("%w: %w: no disks in %s", provenance.ErrVerification, provenance.ErrMissingAttestation, dir)
	}
	load := func(name string) (*provenance.Bundle, error) {
		if !have[name] {
			return nil, nil
		}
		return readBundle(dir, name)
	}
	sbom, sbomErr := load(SBOMBundle)
	fipsB, fipsErr := load(FIPSBundle)
	lock, lockErr := readLock(dir)
	digests := diskDigests(ctx, dir, disks, have, o)

	var results []*provenance.Result
	var errs []error
	subjectsSeen := map[string]bool{}
	var signedSubjects []provenance.Subject
	var first []byte // the first disk's signed provenance
	for _, name := range disks {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		path := filepath.Join(dir, name)
		res := &provenance.Result{Artifact: name}
		prov, err := load(BundleFile(name))
		switch {
		case err != nil:
			fail(res, "provenance", "bundle", err)
		case prov == nil:
			fail(res, "provenance", "bundle", fmt.Errorf("%w: %s has no %s", provenance.ErrUnattested, name, BundleFile(name)))
		}
		if sbomErr != nil {
			fail(res, "sbom", "bundle", sbomErr)
		}
		if fipsErr != nil {
			fail(res, "fips", "bundle", fipsErr)
		}
		if prov != nil {
			var more []*provenance.Bundle
			if sbom != nil {
				more = append(more, sbom)
			}
			if fipsB != nil {
				more = append(more, fipsB)
			}
			a := artifact.Artifact{Path: path}
			if d := digests[name]; d != "" {
				a = artifact.Artifact{Digest: d}
			}
			vr, _ := provenance.Verify(ctx, a, prov, p, trusted, more...)
			vr.Artifact = name
			for i := range vr.Rules {
				r := &vr.Rules[i]
				r.Artifact = name
				// A disk verified by its digest was named by it: name
				// its file.
				if re, ok := r.Err.(*provenance.RuleError); ok && re.Artifact != name {
					r.Err = &provenance.RuleError{Rule: re.Rule, Artifact: name, Err: re.Err}
					r.Error = r.Err.Error()
				}
			}
			vr.Rules = append(res.Rules, vr.Rules...)
			res = vr
			if res.Provenance != nil {
				for _, s := range provenance.Subjects(res.Provenance) {
					if !subjectsSeen[s.Name] {
						subjectsSeen[s.Name] = true
						signedSubjects = append(signedSubjects, s)
					}
				}
				first = checkSame(res, first)
				checkFiles(res, dir, res.Provenance, res.SBOM)
				checkLock(res, res.Provenance, lock, lockErr)
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
			res := &provenance.Result{Artifact: s.Name, Digest: s.Digest}
			fail(res, "provenance", "artifact-present", fmt.Errorf("%w: the signed provenance names %s (%s) but %s has no such file",
				provenance.ErrSubjectMismatch, s.Name, s.Digest, dir))
			results = append(results, res)
			errs = append(errs, res.Err())
		}
	}
	return results, errors.Join(errs...)
}

// diskDigests returns the SHA-256 digests of the attested disks: those of
// WithWrittenDisks as given, the others read, on as many goroutines as
// there are cores. A disk whose digest could not be computed is left out
// (provenance.Verify then reads it and reports why).
func diskDigests(ctx context.Context, dir string, disks []string, have map[string]bool, o *options) map[string]digest.Digest {
	out := make(map[string]digest.Digest, len(disks))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, name := range disks {
		if !have[BundleFile(name)] {
			continue
		}
		path := filepath.Join(dir, name)
		if a, ok := o.written[name]; ok {
			if fi, err := os.Stat(path); err == nil && fi.Size() == a.Size {
				mu.Lock()
				out[name] = a.Digest
				mu.Unlock()
				continue
			}
		}
		g.Go(func() error {
			d, err := provenance.FileDigestContext(ctx, path)
			if err == nil {
				mu.Lock()
				out[name] = d
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	return out
}

func pass(res *provenance.Result, att, name, detail string) {
	res.Add(provenance.Rule{Name: name, Attestation: att, Outcome: provenance.Pass, Detail: detail})
}

func skip(res *provenance.Result, att, name, detail string) {
	res.Add(provenance.Rule{Name: name, Attestation: att, Outcome: provenance.Skipped, Detail: detail})
}

func fail(res *provenance.Result, att, name string, err error) {
	res.Add(provenance.Rule{Name: name, Attestation: att, Outcome: provenance.Fail, Err: err})
}

// readFile reads a file of dir, at most provenance.MaxDocumentSize bytes:
// a larger (or non-regular) file is refused by its size before any byte
// of it is read.
func readFile(dir, name string) ([]byte, error) {
	return provenance.ReadDocumentFile(filepath.Join(dir, name))
}

// readBundle reads and parses the bundle called name in dir.
func readBundle(dir, name string) (*provenance.Bundle, error) {
	b, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	out, err := provenance.ParseBundle(b)
	if err != nil {
		var de *provenance.DocumentError
		if errors.As(err, &de) {
			de.Name = name
		}
		return nil, err
	}
	return out, nil
}

// readLock reads and decodes lock.json, rejecting unknown fields.
func readLock(dir string) (*artifact.Lock, error) {
	b, err := readFile(dir, LockFile)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l artifact.Lock
	if err := dec.Decode(&l); err != nil {
		return nil, &provenance.DocumentError{Kind: "lock", Name: LockFile, Err: fmt.Errorf("%w: %v", provenance.ErrMalformed, err)}
	}
	if dec.More() {
		return nil, &provenance.DocumentError{Kind: "lock", Name: LockFile, Err: fmt.Errorf("%w: data after the lock", provenance.ErrMalformed)}
	}
	return &l, nil
}

// checkSame checks that a disk's signed provenance is the same statement
// as the first disk's, so that disks of different builds signed with the
// same key are not taken for one build. It returns the statement of the
// first disk.
func checkSame(res *provenance.Result, first []byte) []byte {
	b, err := provenance.MarshalStatement(res.Provenance)
	switch {
	case err != nil:
		fail(res, "provenance", "same-build", err)
	case first == nil:
		pass(res, "provenance", "same-build", "the first disk's provenance")
		return b
	case !bytes.Equal(b, first):
		fail(res, "provenance", "same-build", fmt.Errorf("%w: %s's signed provenance is another build's than the first disk's", provenance.ErrSubjectMismatch, res.Artifact))
	default:
		pass(res, "provenance", "same-build", "the same provenance as the first disk's")
	}
	return first
}

// checkFiles checks that the unsigned copies for people say what the signed
// statements say.
func checkFiles(res *provenance.Result, dir string, prov, sbom *provenance.Statement) {
	compare := func(file, what string, signed []byte) {
		b, err := readFile(dir, file)
		if err != nil {
			fail(res, what, file, fmt.Errorf("%w: %v", provenance.ErrMissingAttestation, err))
			return
		}
		var x, y any
		if err := json.Unmarshal(b, &x); err != nil {
			fail(res, what, file, &provenance.DocumentError{Kind: what, Name: file, Err: fmt.Errorf("%w: %v", provenance.ErrMalformed, err)})
			return
		}
		if err := json.Unmarshal(signed, &y); err != nil || !reflect.DeepEqual(x, y) {
			fail(res, what, file, fmt.Errorf("%w: %s differs from the signed %s statement", provenance.ErrSignature, file, what))
			return
		}
		pass(res, what, file, "equals the signed statement")
	}
	if b, err := provenance.MarshalStatement(prov); err == nil {
		compare(ProvenanceFile, "provenance", b)
	}
	if sbom != nil {
		if b, err := sbom.GetPredicate().MarshalJSON(); err == nil {
			compare(SBOMFile, "sbom", b)
		}
	}
}

// checkLock checks that lock.json is the lock the signed provenance
// attests.
func checkLock(res *provenance.Result, prov *provenance.Statement, lock *artifact.Lock, lockErr error) {
	if lockErr != nil {
		fail(res, "provenance", LockFile, fmt.Errorf("%w: %w", provenance.ErrLock, lockErr))
		return
	}
	if err := provenance.CheckLock(prov, lock); err != nil {
		fail(res, "provenance", LockFile, err)
		return
	}
	d, _ := provenance.LockDigest(lock)
	pass(res, "provenance", LockFile, "the lock the signed provenance attests ("+string(d)+")")
}

func checkRootHash(ctx context.Context, res *provenance.Result, path string, prov *provenance.Statement, o *options) {
	var signed string
	for _, s := range provenance.Subjects(prov) {
		if s.Digest == res.Digest {
			signed = s.RootHash
		}
	}
	switch {
	case signed == "":
		skip(res, "provenance", "verity-root-hash", "the provenance records no root hash for this artifact")
	case o.rootHash == nil:
		skip(res, "provenance", "verity-root-hash", "signed root hash "+signed+" (disk not read: no root hash reader)")
	default:
		got, err := o.rootHash(ctx, path)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			skip(res, "provenance", "verity-root-hash", "signed root hash "+signed+" ("+filepath.Base(path)+" not readable: "+err.Error()+")")
		case err != nil:
			fail(res, "provenance", "verity-root-hash", fmt.Errorf("%w: reading %s: %v", provenance.ErrRootHash, filepath.Base(path), err))
		case !strings.EqualFold(got, signed):
			fail(res, "provenance", "verity-root-hash", fmt.Errorf("%w: disk has %s, the signed provenance says %s", provenance.ErrRootHash, got, signed))
		default:
			pass(res, "provenance", "verity-root-hash", signed)
		}
	}
}
