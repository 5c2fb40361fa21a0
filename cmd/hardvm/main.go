// Command hardvm builds, verifies and publishes hardened VM images. It is
// built only on hardvm's public API. Install it with
//
//	go install github.com/hardvm/hardvm/cmd/hardvm@latest
//
// Usage:
//
//	hardvm [--quiet] <command> [flags] [args]
//
// Run `hardvm help` for the commands and `hardvm <command> --help` for one;
// docs/cli holds the same reference as Markdown, and `hardvm completion`
// writes shell completion scripts. Flags may come before or after the
// arguments. Errors go to stderr; the exit code is 2 for bad usage, 1 for
// failures and 128+N when signal N (Ctrl-C: 130) interrupted the command.
//
// Every --json output follows one convention: snake_case keys, lists always
// present (empty as []), times in RFC 3339, digests as "sha256:<hex>".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// env is what every command writes to.
type env struct {
	stdout, stderr io.Writer
	quiet          bool // --quiet: no progress output
}

// usageError marks an error as bad usage (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// interrupted is the cause of a context cancelled by a signal.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

// exitCode is 128 + the signal's number, as shells report it.
func (i interrupted) exitCode() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Stop(sigs) // a second Ctrl-C kills at once
		cancel(interrupted{s})
	}()
	code := run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	cancel(nil)
	os.Exit(code)
}

// commandMakers make the top-level commands; each command's file adds its
// own in an init function, so that adding a command touches one file.
var commandMakers []func(*env) *cobra.Command

func addCommand(f func(*env) *cobra.Command) { commandMakers = append(commandMakers, f) }

// newRoot returns the hardvm command with every subcommand.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "hardvm",
		Short: "hardvm builds, verifies and publishes hardened, minimal, immutable VM images",
		Long: `hardvm builds, verifies and publishes hardened, minimal, immutable VM images.

Flags may come before or after the arguments. Exit codes: 0 success, 1
failure, 2 bad usage, 128+N interrupted by signal N (Ctrl-C: 130). Every
--json output has snake_case keys and lists as [] (never null).`,
		Version:           version(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			return unknownCommand(c, args[0])
		},
		RunE: func(c *cobra.Command, args []string) error {
			c.SetOut(e.stderr)
			c.Help()
			return usagef("a command is required")
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetVersionTemplate("hardvm {{.Version}}\n")
	root.PersistentFlags().BoolVarP(&e.quiet, "quiet", "q", false, "no progress output")
	root.SetFlagErrorFunc(flagError)
	for _, f := range commandMakers {
		root.AddCommand(f(e))
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	return root
}

// unknownCommand is the usage error for a command c does not have, with
// the commands it may mean.
func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, c.CommandPath())
	if s := c.SuggestionsFor(name); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageError{errors.New(msg)}
}

func flagError(_ *cobra.Command, err error) error { return usageError{err} }

// run executes one command line and returns the exit code.
func run(ctx context.Context, e *env, args []string) int {
	root := newRoot(e)
	root.SetArgs(args)
	c, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	name := "hardvm"
	if c != nil {
		name = c.CommandPath()
	}
	var sig interrupted
	if errors.As(context.Cause(ctx), &sig) && ctx.Err() != nil {
		fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
		return sig.exitCode()
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", name, err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintf(e.stderr, "run '%s --help' for usage\n", name)
		return 2
	}
	return 1
}

// runFunc runs a command once its flags are parsed; args are the
// positional arguments.
type runFunc func(ctx context.Context, args []string) error

// leaf returns a command that takes flags and arguments. name is its path
// under hardvm ("catalog list"), usage its synopsis starting with that path,
// setup defines its flags and returns what runs it.
func leaf(e *env, name, short, usage, example string, setup func(fs *pflag.FlagSet) runFunc) *cobra.Command {
	parent := name[:strings.LastIndex(name, " ")+1]
	c := &cobra.Command{
		Use:                   strings.TrimPrefix(usage, parent),
		Short:                 short,
		Example:               "  " + example,
		DisableFlagsInUseLine: true,
	}
	c.SetFlagErrorFunc(flagError)
	fs := c.Flags()
	fs.SortFlags = false
	runIt := setup(fs)
	c.RunE = func(c *cobra.Command, args []string) error { return runIt(c.Context(), args) }
	return c
}

// group returns a command that only holds subcommands.
func group(name, short, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:     name + " <command>",
		Short:   short,
		Example: "  " + example,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("a subcommand is required: %s", strings.Join(names(c), ", "))
			}
			return unknownCommand(c, args[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },

		SuggestionsMinimumDistance: 2,
	}
	c.SetFlagErrorFunc(flagError)
	c.AddCommand(subs...)
	return c
}

func names(c *cobra.Command) []string {
	var out []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			out = append(out, s.Name())
		}
	}
	return out
}
