package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(newInstallCmd)
}

// runInstall resolves, verifies and installs packages into a root file
// system and writes it as a reproducible tar, with the lock as JSON.
func newInstallCmd(e *env) *cobra.Command {
	return leaf(e, "install", "resolve, verify and install APK packages into a rootfs tar",
		"install --repository URL_OR_DIR... --keyring KEY.rsa.pub... --arch ARCH --out ROOTFS.tar [--lock LOCK.json] [--spec SPEC.yaml] [PKG...]",
		"hardvm install --repository https://packages.wolfi.dev/os --keyring wolfi-signing.rsa.pub --arch x86_64 --out rootfs.tar --lock lock.json wolfi-base", func(fl *pflag.FlagSet) runFunc {
			var repos, keys multiFlag
			fl.Var(&repos, "repository", "APK repository: http(s) URL, file:// URL or directory (repeatable, in priority order)")
			fl.Var(&keys, "keyring", "public key trusted to sign indexes and packages (repeatable; all keys form one keyring)")
			arch := fl.String("arch", "", "architecture: x86_64 or aarch64 (default: the spec's)")
			out := fl.String("out", "", "where to write the root file system tar (required)")
			lockOut := fl.String("lock", "", "where to write the lock as JSON")
			specPath := fl.String("spec", "", "spec whose variant, repositories and users configure the image")
			family := fl.String("family", "", "family of the --repository repositories: wolfi, chainguard or alpine")
			cache := fl.String("cache", "", "cache directory for packages, keyed by checksum")
			epoch := fl.Int64("source-date-epoch", 0, "the build's clock: file times are clamped to it (Unix seconds)")
			asJSON := fl.Bool("json", false, "print a JSON summary")
			verbose := fl.BoolP("verbose", "v", false, "log progress to stderr")
			return func(ctx context.Context, args []string) error {
				if *out == "" {
					return usagef("--out is required")
				}
				var spec vm.Spec
				if *specPath != "" {
					s, err := vm.LoadSpec(*specPath)
					if err != nil {
						return err
					}
					spec = *s
					spec.Packages = append(spec.Packages, fl.Args()...)
				} else {
					if fl.NArg() == 0 {
						return usagef("name at least one package (or a --spec)")
					}
					spec.Packages = fl.Args()
					spec.SourceDateEpoch = *epoch
				}
				if *arch != "" {
					a, err := vm.ParseArch(*arch)
					if err != nil {
						return usageError{err}
					}
					spec.Arch = a
				}
				if spec.Arch == "" {
					return usagef("--arch is required without a --spec")
				}
				fam := vm.RepositoryFamily(*family)
				if fam != "" && !fam.Valid() {
					return usagef("--family %q: want one of %v", *family, vm.RepositoryFamilies())
				}
				for _, r := range repos {
					spec.Repositories = append(spec.Repositories, vm.Repository{URL: repoURL(r), Family: fam})
				}
				if len(spec.Repositories) == 0 {
					return usagef("give at least one --repository (or a --spec with repositories)")
				}
				lock, keyring, logger, err := e.resolve(ctx, spec, keys, *verbose, *cache)
				if err != nil {
					return err
				}
				root, err := image.Build(ctx, lock, image.WithBuildKeyring(keyring), image.WithBuildLogger(logger), image.WithBuildCacheDir(*cache))
				if err != nil {
					return err
				}
				defer root.Close()
				// Scanners name the distribution by /etc/os-release: a tree whose
				// packages gave none gets the lock's.
				if _, err := image.WriteOSRelease(root, lock); err != nil {
					return err
				}
				if err := writeAtomic(*out, func(w io.Writer) error { return root.WriteTar(ctx, w) }); err != nil {
					return err
				}
				if *lockOut != "" {
					err := writeAtomic(*lockOut, func(w io.Writer) error {
						return writeJSONOut(w, lock)
					})
					if err != nil {
						os.Remove(*out)
						return err
					}
				}
				if *asJSON {
					return writeJSONOut(e.stdout, map[string]any{
						"out": *out, "lock": *lockOut, "packages": len(lock.Packages), "bytes": root.Size(),
					})
				}
				fmt.Fprintf(e.stdout, "%s: %d packages, %d bytes of files\n", *out, len(lock.Packages), root.Size())
				return nil
			}
		})
}

// repoURL turns a directory into a file:// URL; URLs stay as they are.
func repoURL(s string) string {
	if fi, err := os.Stat(s); err == nil && fi.IsDir() {
		if abs, err := filepath.Abs(s); err == nil {
			return "file://" + abs
		}
	}
	return s
}

// writeAtomic writes path through a temporary file renamed into place, so
// a failure leaves no output file.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// resolve resolves spec against its repositories with the keys given on the
// command line (hardvm resolve and hardvm install): it returns the lock, the
// keyring and the logger (stderr with --verbose) the next step uses.
func (e *env) resolve(ctx context.Context, spec vm.Spec, keys []string, verbose bool, cache string) (*artifact.Lock, *apk.Keyring, *slog.Logger, error) {
	keyring, err := apk.LoadKeyring(keys...)
	if err != nil {
		return nil, nil, nil, err
	}
	logger := slog.New(slog.DiscardHandler)
	if verbose {
		logger = slog.New(slog.NewTextHandler(e.stderr, nil))
	}
	lock, err := image.Resolve(ctx, spec, image.WithResolveKeyring(keyring), image.WithResolveLogger(logger), image.WithResolveCacheDir(cache))
	if err != nil {
		return nil, nil, nil, err
	}
	return lock, keyring, logger, nil
}
