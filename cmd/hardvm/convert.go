package main

import (
	"context"
	"fmt"

	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
)

// runConvert converts any raw disk into a virtual-disk format, like
// `qemu-img convert`, writing the output atomically.
func runConvert(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "convert", "convert --to FORMAT [--compress] [--json] IN.raw OUT",
		"hardvm convert --to qcow2 --compress disk.raw disk.qcow2")
	to := fs.String("to", "", fmt.Sprintf("output format, one of %v", vm.DiskFormats()))
	compress := fs.Bool("compress", false, "compress where the format allows it (qcow2)")
	asJSON := fs.Bool("json", false, "print the artifact (format, sizes, sha256 digest) as JSON")
	digest := fs.Bool("digest", true, "compute the sha256 digest while writing (false: write only, as qemu-img does)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("want IN.raw and OUT, got %d arguments", fs.NArg())
	}
	if *to == "" {
		return usagef("--to is required")
	}
	f := vm.DiskFormat(*to)
	if !f.Valid() {
		return usagef("unknown format %q (want one of %v)", *to, vm.DiskFormats())
	}
	if *compress && f != vm.FormatQCOW2 {
		return usagef("--compress applies to qcow2 only (vmdk, gce and ova are always compressed)")
	}
	w, err := vdisk.ForFormat(f, *compress)
	if err != nil {
		return usagef("%v", err)
	}
	if !*digest {
		if *asJSON {
			return usagef("--json needs the digest")
		}
		return convertOnly(ctx, w, fs.Arg(0), fs.Arg(1))
	}
	a, err := image.Export(ctx, &image.Disk{Path: fs.Arg(0)}, w, fs.Arg(1))
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONOut(e.stdout, a)
	}
	fmt.Fprintf(e.stdout, "%s\t%s\t%d bytes\tvirtual %d bytes\t%s\n", a.Path, a.Format, a.Size, a.VirtualSize, a.Digest)
	return nil
}

// convertOnly writes in to out through w atomically without hashing it.
// (internal/atomicfile is out of reach of an example built on the public
// API, so the temporary file and rename are spelled out.)
func convertOnly(ctx context.Context, w vdisk.Writer, in, out string) error {
	src, err := vdisk.OpenFile(in)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = w.WriteDisk(ctx, tmp, src)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	return err
}
