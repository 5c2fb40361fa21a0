package fips

import (
	"context"
	"debug/pe"
	"fmt"
	"io"
	"strings"
)

// ukiGlobs are where unified kernel images live when a root carries its ESP.
var ukiGlobs = []string{"/boot/EFI/Linux/*.efi", "/efi/EFI/Linux/*.efi", "/boot/efi/EFI/Linux/*.efi"}

// kernelFIPSArg returns the first argument of a kernel command line that
// switches the kernel into FIPS mode (fips=1, or any fips= but 0).
func kernelFIPSArg(cmdline string) string {
	for _, a := range strings.Fields(cmdline) {
		a = strings.Trim(a, `"'`)
		if v, ok := strings.CutPrefix(a, "fips="); ok && v != "0" {
			return a
		}
	}
	return ""
}

// loaderOptions returns the options lines of a Boot Loader Specification
// entry, joined.
func loaderOptions(entry string) string {
	var opts []string
	for _, line := range strings.Split(entry, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "options"); ok && (v == "" || v[0] == ' ' || v[0] == '\t') {
			opts = append(opts, v)
		}
	}
	return strings.Join(opts, " ")
}

// ukiCmdline reads the .cmdline section of a unified kernel image, if the
// file can be read at offsets.
func (c *checker) ukiCmdline(p string) (string, bool, error) {
	f, _, err := open(c.fsys, p)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return "", false, nil
	}
	pf, err := pe.NewFile(ra)
	if err != nil {
		return "", false, fmt.Errorf("%w: %s: not a PE image: %v", ErrParse, p, err)
	}
	defer pf.Close()
	s := pf.Section(".cmdline")
	if s == nil {
		return "", false, nil
	}
	data, err := io.ReadAll(io.LimitReader(s.Open(), 64<<10))
	if err != nil {
		return "", false, fmt.Errorf("%w: %s: .cmdline: %v", ErrParse, p, err)
	}
	return strings.TrimRight(string(data), "\x00"), true, nil
}

// kernel checks that nothing in the image switches the kernel into FIPS
// mode: the point of kernel-independent FIPS is that no image needs it.
func (c *checker) kernel(context.Context) ([]Result, error) {
	const want = "no fips=1 on the kernel command line (FIPS is in user space; the kernel needs no FIPS mode)"
	var read []string
	check := func(p, cmdline string) *Result {
		read = append(read, p)
		if a := kernelFIPSArg(cmdline); a != "" {
			r := fail(CheckKernel, p, want, a)
			return &r
		}
		return nil
	}
	for _, p := range c.o.cmdlines {
		data, err := readFile(c.fsys, p, c.o.maxFile)
		if err := ioErr(err); err != nil {
			return nil, err
		}
		if notExist(err) {
			continue
		}
		if err != nil {
			return []Result{fail(CheckKernel, p, want, describe(err))}, nil
		}
		if r := check(p, string(data)); r != nil {
			return []Result{*r}, nil
		}
	}
	for _, g := range c.o.loaderGlobs {
		for _, p := range glob(c.fsys, g) {
			data, err := readFile(c.fsys, p, c.o.maxFile)
			if err := ioErr(err); err != nil {
				return nil, err
			}
			if err != nil {
				continue
			}
			if r := check(p, loaderOptions(string(data))); r != nil {
				return []Result{*r}, nil
			}
		}
	}
	for _, g := range ukiGlobs {
		for _, p := range glob(c.fsys, g) {
			cmdline, ok, err := c.ukiCmdline(p)
			if err := ioErr(err); err != nil {
				return nil, err
			}
			if err != nil {
				return []Result{fail(CheckKernel, p, want, describe(err))}, nil
			}
			if !ok {
				continue
			}
			if r := check(p, cmdline); r != nil {
				return []Result{*r}, nil
			}
		}
	}
	if len(read) == 0 {
		return []Result{pass(CheckKernel, "", "no kernel command line in the image sets fips=; none found at "+
			strings.Join(c.o.cmdlines, ", ")+" or in boot loader entries")}, nil
	}
	return []Result{pass(CheckKernel, read[0], fmt.Sprintf("no fips= in %s", strings.Join(read, ", ")))}, nil
}
