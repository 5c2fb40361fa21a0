package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// openCatalog opens a catalog given as a directory or oci://HOST/REPO.
func openCatalog(spec string, insecure bool) (catalog.Store, error) {
	if spec == "" {
		return nil, usagef("--catalog is required (a directory or oci://HOST/REPO)")
	}
	if repo, ok := strings.CutPrefix(spec, "oci://"); ok {
		var opts []oci.Option
		if insecure {
			opts = append(opts, oci.WithInsecure())
		}
		s, err := oci.New(repo, opts...)
		if err != nil {
			return nil, usagef("--catalog: %v", err)
		}
		return s, nil
	}
	return local.Open(spec)
}

func closeCatalog(s catalog.Store) {
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
}

// readBuildDir reads what `hardvm build` wrote in dir: the lock, the disks
// (hashed here) and the SBOM, provenance and its bundle.
func readBuildDir(dir string) (catalog.Release, *artifact.Lock, error) {
	var lock artifact.Lock
	b, err := os.ReadFile(filepath.Join(dir, "lock.json"))
	if err != nil {
		return catalog.Release{}, nil, fmt.Errorf("%s is not a build directory: %w", dir, err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return catalog.Release{}, nil, fmt.Errorf("%s: %w", filepath.Join(dir, "lock.json"), err)
	}
	ref := lock.Spec.Ref()
	var arts []artifact.Artifact
	for _, f := range vm.DiskFormats() {
		matches, _ := filepath.Glob(filepath.Join(dir, "*"+f.Ext()))
		for _, p := range matches {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			d, err := provenance.FileDigest(p)
			if err != nil {
				return catalog.Release{}, nil, err
			}
			a := artifact.Artifact{Ref: ref, Format: f, Path: p, Size: fi.Size(), Digest: d}
			if f == vm.FormatRaw {
				a.VirtualSize = fi.Size()
			}
			arts = append(arts, a)
		}
	}
	if len(arts) == 0 {
		return catalog.Release{}, nil, fmt.Errorf("%s holds no disk (%v)", dir, vm.DiskFormats())
	}
	var atts []catalog.Attachment
	for _, f := range []struct {
		name string
		kind catalog.AttachmentKind
	}{{"sbom.spdx.json", catalog.SBOM}, {"provenance.intoto.json", catalog.Provenance}, {provenanceBundle, catalog.Bundle}, {arts[0].Name() + provenance.BundleSuffix, catalog.Bundle}} {
		if slices.ContainsFunc(atts, func(a catalog.Attachment) bool { return a.Kind == f.kind }) {
			continue
		}
		p := filepath.Join(dir, f.name)
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		d, err := provenance.FileDigest(p)
		if err != nil {
			return catalog.Release{}, nil, err
		}
		atts = append(atts, catalog.Attachment{Kind: f.kind, MediaType: f.kind.DefaultMediaType(), Digest: d, Size: fi.Size(), Path: p})
	}
	e, err := catalog.NewEntry(&lock, arts, atts...)
	if err != nil {
		return catalog.Release{}, nil, err
	}
	return catalog.Release{Entry: e, Artifacts: arts}, &lock, nil
}

// dirVerifier verifies every disk of the release against the build's
// signed provenance (and the other signed statements beside it).
func dirVerifier(dir, keyPath string, lock *artifact.Lock) (catalog.Verifier, error) {
	trusted, err := provenance.ReadTrustedKeyFile(keyPath)
	if err != nil {
		return nil, err
	}
	var popts []provenance.PolicyOption
	if lock.Spec.FIPS {
		popts = append(popts, provenance.RequireFIPS())
	}
	policy, err := provenance.NewPolicy(popts...)
	if err != nil {
		return nil, err
	}
	read := func(name string) (*provenance.Bundle, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		return provenance.ParseBundle(b)
	}
	// The other signed statements (SBOM, FIPS report), under the names
	// hardvm.Build and provenance.WriteDir give them.
	var more []*provenance.Bundle
	for _, name := range []string{"sbom.spdx.json.intoto.json.sigstore.json", provenance.SBOMBundle, "fips-report.intoto.json.sigstore.json", provenance.FIPSBundle} {
		if b, err := read(name); err == nil {
			more = append(more, b)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return catalog.VerifierFunc(func(ctx context.Context, r *catalog.Release) error {
		for _, a := range r.Artifacts {
			primary, err := read(a.Name() + provenance.BundleSuffix)
			if errors.Is(err, os.ErrNotExist) {
				primary, err = read(provenanceBundle)
			}
			if err != nil {
				return fmt.Errorf("%s: signed provenance: %w", a.Name(), err)
			}
			if _, err := provenance.Verify(ctx, a, primary, policy, trusted, more...); err != nil {
				return fmt.Errorf("%s: %w", a.Name(), err)
			}
		}
		return nil
	}), nil
}

// provenanceBundle is the signed provenance hardvm.Build writes.
const provenanceBundle = "provenance.intoto.json.sigstore.json"

func runPublish(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "publish", "publish DIR --catalog PATH|oci://HOST/REPO --key KEY.pub [--target aws|azure|gcp|vsphere|nutanix|local:DIR]... [--target-config FILE] [--insecure] [--json]",
		"hardvm publish out/ --catalog ~/.hardvm/catalog --key out/key.pub --target local:/var/lib/hardvm/images")
	cat := fs.String("catalog", "", "the catalog: a directory, or oci://HOST/REPO for a registry (required)")
	key := fs.String("key", "", "public key (PEM) the build must be signed with (required unless --unsafe-unverified)")
	var targets targetFlags
	targets.register(fs)
	insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
	unverified := fs.Bool("unsafe-unverified", false, "publish without verifying signatures (tests only)")
	asJSON := fs.Bool("json", false, "print the entry as JSON")
	// Accept flags after DIR too.
	if err := parse(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) < 1 {
		return usagef("publish needs the build directory")
	}
	dir := rest[0]
	if err := parse(fs, rest[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %v", fs.Args())
	}
	if *key == "" && !*unverified {
		return usagef("--key is required: nothing unverified is published (or --unsafe-unverified)")
	}
	tcs, err := targets.configs()
	if err != nil {
		return err
	}
	rel, lock, err := readBuildDir(dir)
	if err != nil {
		return err
	}
	store, err := openCatalog(*cat, *insecure)
	if err != nil {
		return err
	}
	defer closeCatalog(store)
	regs, closeTargets, err := openTargetConfigs(ctx, tcs)
	if err != nil {
		return err
	}
	defer closeTargets()
	opts := []catalog.PublishOption{catalog.WithRegistrars(regs...)}
	if *unverified {
		opts = append(opts, catalog.PublishUnverifiedUnsafe())
	} else {
		v, err := dirVerifier(dir, *key, lock)
		if err != nil {
			return err
		}
		opts = append(opts, catalog.WithVerifier(v))
	}
	entry, err := catalog.Publish(ctx, store, rel, opts...)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONOut(e.stdout, entry)
	}
	fmt.Fprintf(e.stdout, "published %s\n", entry.Ref)
	printEntry(e.stdout, &entry)
	return nil
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
