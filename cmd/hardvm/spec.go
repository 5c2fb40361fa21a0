package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hardvm/hardvm/vm"
)

func runSpec(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "validate" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(e.stderr, "Usage: hardvm spec validate [--json] FILE...\n\nExample:\n  hardvm spec validate vm/testdata/valid/base-aws.yaml")
			return nil
		}
		return usagef("want 'spec validate FILE...'")
	}
	fs := newFlags(e, "spec validate", "spec validate [--json] FILE...", "hardvm spec validate base.yaml")
	asJSON := fs.Bool("json", false, "print one JSON object per file")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
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
