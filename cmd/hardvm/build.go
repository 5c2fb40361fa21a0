package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/builddir"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/provenance"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(newBuildCmd)
}

// runBuild builds, signs and verifies the image a spec describes and
// prints what it wrote.
func newBuildCmd(e *env) *cobra.Command {
	return leaf(e, "build", "build, sign and verify an image from a spec",
		"build --spec SPEC.yaml --out DIR [--platform P]... [--arch A]... [--parallel N] [--key KEY.pem] [--compress] [--cache DIR] [--json] [--quiet] [-v]",
		"hardvm build --spec base-qemu.yaml --out out/  # then: hardvm run out/disk.qcow2\n  hardvm build --spec base.yaml --out out/ --platform qemu --platform aws --arch x86_64 --arch aarch64  # out/qemu-x86_64/, out/aws-aarch64/, ...", func(fl *pflag.FlagSet) runFunc {
			specPath := fl.String("spec", "", "the image spec (YAML; check it with 'hardvm spec validate') (required)")
			outDir := fl.String("out", "", "directory the disks, lock, SBOM, provenance and bundles are written to (required)")
			keyPath := fl.String("key", "", "PEM private key that signs the attestations (default: a key generated for the run, public half written as key.pub)")
			compress := fl.Bool("compress", false, "compress the formats that can be (qcow2)")
			cache := fl.String("cache", "", "package cache shared by builds (default: DIR/cache)")
			asJSON := fl.Bool("json", false, "print the result as JSON on stdout")
			verbose := fl.BoolP("verbose", "v", false, "log the pipeline's steps to stderr")
			platforms := fl.StringArray("platform", nil, "build for `PLATFORM` instead of the spec's, into DIR/<platform>-<arch>/ (repeatable; with --arch, every combination)")
			arches := fl.StringArray("arch", nil, "build for `ARCH` (x86_64, aarch64) instead of the spec's, into DIR/<platform>-<arch>/ (repeatable)")
			parallel := fl.Int("parallel", 2, "with --platform or --arch: how many builds (`N`) run at once (each already uses every core for its own stages)")
			return func(ctx context.Context, args []string) error {
				switch {
				case *specPath == "":
					return usagef("--spec is required")
				case *outDir == "":
					return usagef("--out is required")
				case fl.NArg() > 0:
					return usagef("unexpected arguments %q: build takes flags only", fl.Args())
				case *parallel < 1:
					return usagef("--parallel %d: want at least 1", *parallel)
				}
				spec, err := vm.LoadSpec(*specPath)
				if err != nil {
					return specError(*specPath, err)
				}
				if len(*platforms) > 0 || len(*arches) > 0 {
					return buildMatrix(ctx, e, spec, *platforms, *arches, matrixConfig{specPath: *specPath, outDir: *outDir,
						cacheDir: *cache, keyPath: *keyPath, compress: *compress, verbose: *verbose, parallel: *parallel}, *asJSON)
				}
				opts := []hardvm.Option{hardvm.WithOutputDir(*outDir), hardvm.WithCompression(*compress)}
				if *cache != "" {
					opts = append(opts, hardvm.WithCacheDir(*cache))
				}
				if *keyPath != "" {
					signer, err := provenance.NewSigner(provenance.WithKeyFile(*keyPath))
					if err != nil {
						return fmt.Errorf("--key %s: %w\n  want a PEM private key (ECDSA P-256, e.g. 'openssl ecparam -name prime256v1 -genkey -noout -out key.pem'), or no --key for a key generated for the run", *keyPath, err)
					}
					opts = append(opts, hardvm.WithSigner(signer))
				}
				if *verbose {
					opts = append(opts, hardvm.WithLogger(slog.New(slog.NewTextHandler(e.stderr, nil))))
				}
				view := e.progress()
				opts = append(opts, hardvm.WithProgress(view))
				out, err := hardvm.Build(ctx, *spec, opts...)
				view.Close()
				if err != nil {
					if out != nil && len(out.Results) > 0 && !*asJSON {
						printBuildTable(e.stdout, out) // which artifact failed verification, and why
					}
					return buildError(*specPath, *outDir, err)
				}
				if *asJSON {
					return writeJSONOut(e.stdout, buildJSON(spec, out))
				}
				printBuildTable(e.stdout, out)
				boot := "kernel " + out.Kernel + ", boots with UEFI"
				if out.Kernel == "" {
					boot = "no kernel: the disk does not boot"
				}
				fmt.Fprintf(e.stdout, "\nimage  %s\n       %d packages, %s\nfiles  %s in %s\n",
					out.Entry.Ref, len(out.Lock.Packages), boot, strings.Join(written(out), ", "), out.Dir)
				if *keyPath == "" {
					key := filepath.Join(out.Dir, builddir.PublicKeyFile)
					fmt.Fprintf(e.stdout, "key    signed with a key made for this build; check again with: hardvm verify --key %s %s\n", key, out.Dir)
				}
				return nil
			}
		})
}

// buildMatrix builds spec for every (platform, arch) asked for, in
// parallel, and prints one summary; see buildmatrix.go.
func buildMatrix(ctx context.Context, e *env, spec *vm.Spec, platforms, arches []string, cfg matrixConfig, asJSON bool) error {
	targets, err := matrixTargets(cfg.specPath, spec, platforms, arches)
	if err != nil {
		return err
	}
	if cfg.keyPath != "" {
		if _, err := provenance.NewSigner(provenance.WithKeyFile(cfg.keyPath)); err != nil {
			return fmt.Errorf("--key %s: %w\n  want a PEM private key (ECDSA P-256), or no --key for a key generated for each build", cfg.keyPath, err)
		}
	}
	if cfg.cacheDir == "" {
		cfg.cacheDir = filepath.Join(cfg.outDir, "cache")
	}
	view := e.progress()
	results := runMatrix(ctx, targets, cfg, view, e.stderr)
	view.Close()
	if asJSON {
		if err := writeJSONOut(e.stdout, matrixJSON(results)); err != nil {
			return err
		}
	} else {
		printMatrix(e.stdout, results)
	}
	return matrixError(results)
}

// artifactRow is one artifact as the table and --json show it.
type artifactRow struct {
	Name        string             `json:"name"`
	Path        string             `json:"path"`
	Format      vm.DiskFormat      `json:"format"`
	Size        int64              `json:"size"`
	VirtualSize int64              `json:"virtual_size"`
	SHA256      string             `json:"sha256"`
	RootHash    string             `json:"root_hash,omitempty"`
	Signed      bool               `json:"signed"`
	Verified    bool               `json:"verified"`
	Result      *provenance.Result `json:"verification,omitempty"`
}

func rows(out *hardvm.Output) []artifactRow {
	var rs []artifactRow
	for _, a := range out.Artifacts {
		r := artifactRow{Name: a.Name(), Path: a.Path, Format: a.Format, Size: a.Size, VirtualSize: a.VirtualSize,
			SHA256: strings.TrimPrefix(string(a.Digest), "sha256:"), RootHash: a.RootHash}
		if res := out.Result(a); res != nil {
			r.Result = res
			r.Signed = signed(r.Result)
			r.Verified = r.Result.Passed()
		}
		rs = append(rs, r)
	}
	return rs
}

// signed reports whether the verification found the artifact named in a
// provenance whose signature verified.
func signed(r *provenance.Result) bool {
	var sig, subject bool
	for _, rule := range r.Rules {
		if rule.Attestation != "" && rule.Attestation != "provenance" {
			continue
		}
		switch rule.Name {
		case "signature":
			sig = rule.Outcome == provenance.Pass
		case "subject":
			subject = rule.Outcome == provenance.Pass
		}
	}
	return sig && subject
}

func printBuildTable(w io.Writer, out *hardvm.Output) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ARTIFACT\tFORMAT\tSIZE\tSHA-256\tSIGNED\tVERIFIED")
	for _, r := range rows(out) {
		verified := yesNo(r.Verified)
		if r.Result == nil {
			verified = "-"
		} else if !r.Verified {
			verified = "NO: " + firstLine(r.Result.Err())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Format, humanSize(r.Size), short(r.SHA256), yesNo(r.Signed), verified)
	}
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// short abbreviates a hex digest as its first and last 6 digits.
func short(hex string) string {
	if len(hex) <= 16 {
		return hex
	}
	return hex[:6] + "…" + hex[len(hex)-6:]
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// written returns the files of the build beside its disks (lock, SBOM,
// provenance, bundles, key), sorted by name.
func written(out *hardvm.Output) []string {
	names, _ := builddir.Files(out.Dir)
	return names
}

func buildJSON(spec *vm.Spec, out *hardvm.Output) any {
	var files []string
	for _, name := range written(out) {
		files = append(files, filepath.Join(out.Dir, name))
	}
	return struct {
		Ref       string         `json:"ref"`
		Dir       string         `json:"dir"`
		Spec      *vm.Spec       `json:"spec"`
		Kernel    string         `json:"kernel,omitempty"`
		Bootable  bool           `json:"bootable"`
		Artifacts []artifactRow  `json:"artifacts"`
		Files     []string       `json:"files"` // lock, SBOM, provenance, bundles, key
		Lock      *artifact.Lock `json:"lock"`
		FIPS      any            `json:"fips,omitempty"`
	}{out.Entry.Ref.String(), out.Dir, spec, out.Kernel, out.Kernel != "", rows(out), files, out.Lock, fipsJSON(out)}
}

// fipsJSON is the FIPS report for --json, or nil (left out) without one.
func fipsJSON(out *hardvm.Output) any {
	if out.FIPS == nil {
		return nil
	}
	return out.FIPS
}

// specError lists every problem of an invalid spec, one per line, and says
// how to check the fix.
func specError(path string, err error) error {
	fes := fieldErrors(err)
	if len(fes) == 0 {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: invalid spec, %d problem(s):", path, len(fes))
	for _, fe := range fes {
		fmt.Fprintf(&b, "\n  %s", fe)
	}
	fmt.Fprintf(&b, "\nfix the fields above, then check with 'hardvm spec validate %s'", path)
	return &hintError{msg: b.String(), err: err}
}

// hintError is an error whose text says what failed, where and what to
// do; it unwraps to the cause.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

// buildError adds to a pipeline error the step that failed and what to do
// about it.
func buildError(specPath, outDir string, err error) error {
	var (
		unsat  *apk.UnsatisfiableError
		signer *apk.SignerError
		size   *image.SizeError
		step   *hardvm.StepError
	)
	msg := err.Error()
	var hint string
	switch {
	case errors.Is(err, context.Canceled):
		hint = "interrupted: no half-written file is left in " + outDir + "; run the same command again to start over"
	case errors.As(err, &unsat):
		var b strings.Builder
		fmt.Fprintf(&b, "resolve: no package satisfies %q (%s); the chain that asked for it:", unsat.Want, unsat.Reason)
		for i, c := range unsat.Chain {
			fmt.Fprintf(&b, "\n  %s%s", strings.Repeat("  ", i), c)
		}
		fmt.Fprintf(&b, "\n  %s→ %s", strings.Repeat("  ", len(unsat.Chain)), unsat.Want)
		msg = b.String()
		hint = fmt.Sprintf("add a repository that provides %s to %s, or relax the constraint in its packages:", unsat.Want, specPath)
	case errors.As(err, &signer):
		hint = fmt.Sprintf("add the public key that signs it (%s) to the repository's keys: in %s", strings.Join(signer.Keys, ", "), specPath)
	case errors.Is(err, apk.ErrVerify):
		hint = "a repository file failed verification: it may be corrupt or tampered; check the repository and clear the cache (" + filepath.Join(outDir, "cache") + " or --cache)"
	case errors.Is(err, apk.ErrFetch):
		hint = "check the repository URLs in " + specPath + " and that they are reachable"
	case errors.As(err, &size):
		hint = fmt.Sprintf("raise size: in %s to at least %dMiB", specPath, (size.Need+1<<20-1)>>20)
	case errors.Is(err, image.ErrDiskTooSmall):
		hint = "raise size: in " + specPath
	case errors.Is(err, provenance.ErrVerification):
		hint = "the build's attestations did not verify: nothing may be published from " + outDir
	case errors.As(err, &step):
		hint = fmt.Sprintf("the %s step failed; run again with -v for the pipeline's log", step.Step)
	}
	if hint != "" {
		msg += "\n" + hint
	}
	return &hintError{msg: msg, err: err}
}
