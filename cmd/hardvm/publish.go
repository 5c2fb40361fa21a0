package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/local"
	"github.com/hardvm/hardvm/catalog/oci"
	"github.com/hardvm/hardvm/provenance"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }
func (l *listFlag) Type() string       { return "stringArray" }

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

func init() {
	addCommand(newPublishCmd)
}

func newPublishCmd(e *env) *cobra.Command {
	return leaf(e, "publish", "verify a build directory and publish it to a catalog", "publish DIR --catalog PATH|oci://HOST/REPO --key KEY.pub [--target aws|azure|gcp|vsphere|nutanix|local:DIR]... [--target-config FILE] [--insecure] [--unsafe-not-bootable] [--json]",
		"hardvm publish out/ --catalog ~/.hardvm/catalog --key out/key.pub --target local:/var/lib/hardvm/images", func(fs *pflag.FlagSet) runFunc {
			cat := fs.String("catalog", "", "the catalog: a directory, or oci://HOST/REPO for a registry (required)")
			key := fs.String("key", "", "public key (PEM) the build must be signed with (required unless --unsafe-unverified)")
			var targets targetFlags
			targets.register(fs)
			insecure := fs.Bool("insecure", false, "talk plain HTTP to the registry")
			unverified := fs.Bool("unsafe-unverified", false, "publish without verifying signatures (tests only)")
			notBootable := fs.Bool("unsafe-not-bootable", false, "publish an image whose provenance names no kernel (its disks do not boot)")
			asJSON := fs.Bool("json", false, "print the entry as JSON")
			return func(ctx context.Context, args []string) error {
				if fs.NArg() != 1 {
					return usagef("publish needs one build directory, got %d arguments", fs.NArg())
				}
				dir := fs.Arg(0)
				if *key == "" && !*unverified {
					return usagef("--key is required: nothing unverified is published (or --unsafe-unverified)")
				}
				tcs, err := targets.configs()
				if err != nil {
					return err
				}
				// What can be checked before any target is contacted: the key, and
				// that DIR is a build directory. hardvm.Publish verifies the rest.
				opts := []hardvm.Option{}
				if *unverified {
					opts = append(opts, hardvm.PublishUnverifiedUnsafe())
				} else {
					tm, err := provenance.ReadTrustedKeyFile(*key)
					if err != nil {
						return fmt.Errorf("--key %s: %w", *key, err)
					}
					opts = append(opts, hardvm.WithTrustedMaterial(tm))
				}
				if *notBootable {
					opts = append(opts, hardvm.PublishNotBootableUnsafe())
				}
				if _, err := os.Stat(filepath.Join(dir, builddir.LockFile)); err != nil {
					return fmt.Errorf("%s is not a build directory: %w", dir, err)
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
				opts = append(opts, hardvm.WithStore(store), hardvm.WithRegistrars(regs...))
				entry, err := hardvm.Publish(ctx, dir, opts...)
				if err != nil {
					return publishError(dir, err)
				}
				if *asJSON {
					return writeJSONOut(e.stdout, entry)
				}
				fmt.Fprintf(e.stdout, "published %s\n", entry.Ref)
				printEntry(e.stdout, &entry)
				return nil
			}
		})
}

// publishError adds to a publish error what to do about it.
func publishError(dir string, err error) error {
	var hint string
	switch {
	case errors.Is(err, hardvm.ErrNotBootable):
		hint = "the image has no kernel; publish it anyway only with --unsafe-not-bootable"
	case errors.Is(err, provenance.ErrLock):
		hint = filepath.Join(dir, builddir.LockFile) + " is not the lock the signed provenance attests: the directory was altered; nothing was published"
	case errors.Is(err, provenance.ErrVerification):
		hint = "check it with: hardvm verify --key KEY.pub " + dir + "; nothing was published"
	}
	if hint == "" {
		return err
	}
	return &hintError{msg: err.Error() + "\n" + hint, err: err}
}
