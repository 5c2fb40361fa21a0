// Command hardvm builds, verifies and publishes hardened VM images. It is
// built only on hardvm's public API. Install it with
//
//	go install github.com/hardvm/hardvm/cmd/hardvm@latest
//
// Usage:
//
//	hardvm <command> [flags] [args]
//
// Run `hardvm help` for the commands and `hardvm <command> --help` for one.
// Errors go to stderr; the exit code is 2 for bad usage and 1 for failures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// commands is the one literal table of subcommands, in the order help shows.
var commands = []command{
	{"spec", "validate spec files (spec validate FILE...)", runSpec},
	{"variants", "list variants, their families and platforms", runVariants},
	{"platforms", "list platforms, their formats and rules", runPlatforms},
	{"plan", "plan the replacement of a fleet's nodes with a target image", runPlan},
	{"run", "boot a disk in QEMU with UEFI, serial console on the terminal (run DISK)", runRun},
	{"convert", "convert a raw disk to qcow2, vhd, vmdk, gce or ova (like qemu-img convert)", runConvert},
	{"inspect", "read a qcow2, vhd or vmdk header safely (inspect --format FORMAT FILE)", runInspect},
	{"verity", "dm-verity hash trees (verity format DATA HASH, verity verify DATA HASH ROOTHASH)", runVerity},
	{"resolve", "print the packages a world resolves to, from the indexes alone (resolve --repository R --keyring K --arch A [--json] PKG...)", runResolve},
	{"install", "resolve, verify and install APK packages into a rootfs tar (install --repository R --keyring K --arch A --out rootfs.tar PKG...)", runInstall},
	{"fips", "check a root file system for kernel-independent FIPS (fips check ROOTFS.tar)", runFIPS},
	{"verify", "verify the signed SBOM, provenance and FIPS report of every artifact in an output directory (verify [--key KEY.pub] [--policy P.yaml] DIR)", runVerify},
	{"build", "build, sign and verify an image from a spec (build --spec SPEC.yaml --out DIR)", runBuild},
	{"publish", "verify a build directory and publish it to a catalog (publish DIR --catalog PATH|oci://HOST/REPO --key KEY.pub [--target aws|azure|gcp|vsphere|nutanix|local:DIR]... [--target-config FILE])", runPublish},
	{"catalog", "query the catalog: list, latest [--delta], diff OLD NEW, deprecate REF, stale SPEC..., serve (a read-only web directory)", runCatalog},
	{"factory", "rebuild exactly the stale streams, on an embedded or external NATS JetStream (factory --catalog C --out DIR SPEC...; factory status)", runFactory},
	{"worker", "build, publish and deprecate the factory's jobs from NATS JetStream (worker --nats URL --catalog C --out DIR)", runWorker},
}

// env is what every command writes to.
type env struct {
	stdout, stderr io.Writer
	quiet          bool // --quiet before the command: no progress output
}

// usageError marks an error as bad usage (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, e *env, args []string) int {
	for len(args) > 0 && (args[0] == "--quiet" || args[0] == "-quiet" || args[0] == "-q") {
		e.quiet = true
		args = args[1:]
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		help(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, new(usageError)):
				fmt.Fprintf(e.stderr, "hardvm %s: %v\n", c.name, err)
				fmt.Fprintf(e.stderr, "run 'hardvm %s --help' for usage\n", c.name)
				return 2
			default:
				fmt.Fprintf(e.stderr, "hardvm %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(e.stderr, "hardvm: unknown command %q\n", args[0])
	help(e.stderr)
	return 2
}

func help(w io.Writer) {
	fmt.Fprintln(w, "hardvm builds, verifies and publishes hardened, minimal, immutable VM images.")
	fmt.Fprintln(w, "\nUsage: hardvm [--quiet] <command> [flags] [args]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'hardvm <command> --help' for a command's flags and an example.")
}

// newFlags returns a FlagSet for a command that prints usage and an example
// on --help and reports parse errors as usage errors.
func newFlags(e *env, name, usage, example string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: hardvm %s\n", usage)
		if example != "" {
			fmt.Fprintf(e.stderr, "\nExample:\n  %s\n", example)
		}
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(e.stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args, mapping errors to usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}
