package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(func(e *env) *cobra.Command {
		subs := []*cobra.Command{newSpecValidateCmd(e)}
		for _, f := range specCommands {
			subs = append(subs, f(e))
		}
		return group("spec", "validate, start and describe image specs", "hardvm spec validate base.yaml", subs...)
	})
}

// specCommands make the spec subcommands besides validate; each adds its
// own from its file.
var specCommands []func(*env) *cobra.Command

func addSpecCommand(f func(*env) *cobra.Command) { specCommands = append(specCommands, f) }

func newSpecValidateCmd(e *env) *cobra.Command {
	return leaf(e, "spec validate", "validate spec files", "spec validate [--json] FILE...", "hardvm spec validate base.yaml", func(fs *pflag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print one JSON object per file")
		return func(ctx context.Context, args []string) error {
			if fs.NArg() == 0 {
				return usagef("no spec file given")
			}
			failed := 0
			for _, path := range fs.Args() {
				s, err := vm.LoadSpec(path)
				if *asJSON {
					out := map[string]any{"file": path, "valid": err == nil}
					if err != nil {
						var msgs []string
						for _, fe := range fieldErrors(err) {
							msgs = append(msgs, fe.Error())
						}
						if len(msgs) == 0 {
							msgs = []string{err.Error()}
						}
						out["errors"] = msgs
					} else {
						out["ref"] = s.Ref().String()
					}
					if err := writeJSONLine(e.stdout, out); err != nil {
						return err
					}
				} else if err != nil {
					fmt.Fprintln(e.stderr, err)
				} else {
					fmt.Fprintf(e.stdout, "%s: ok (%s, formats %s, %s)\n", path, s.Ref(), join(s.DiskFormats()), vm.ByteSize(s.DiskSize()))
				}
				if err != nil {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d spec files are invalid", failed, fs.NArg())
			}
			return nil
		}
	})
}

// fieldErrors flattens err into its FieldErrors.
func fieldErrors(err error) []*vm.FieldError {
	var out []*vm.FieldError
	var walk func(error)
	walk = func(err error) {
		var fe *vm.FieldError
		if errors.As(err, &fe) && err == error(fe) {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
