package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(newConvertCmd)
}

// runConvert converts any raw disk into a virtual-disk format, like
// `qemu-img convert`, writing the output atomically.
func newConvertCmd(e *env) *cobra.Command {
	return leaf(e, "convert", "convert a raw disk to qcow2, vhd, vmdk, gce or ova (like qemu-img convert)", "convert --to FORMAT [--from raw] [--compress] [--json] IN.raw OUT",
		"hardvm convert --to qcow2 --compress disk.raw disk.qcow2", func(fs *pflag.FlagSet) runFunc {
			to := fs.String("to", "", fmt.Sprintf("output format, one of %v", vm.DiskFormats()))
			from := fs.String("from", "raw", "input format: raw (the only one read; a qcow2, VHD, VMDK, GCE or OVA input is refused by its header)")
			compress := fs.Bool("compress", false, "compress where the format allows it (qcow2)")
			asJSON := fs.Bool("json", false, "print the artifact (format, sizes, sha256 digest) as JSON")
			digest := fs.Bool("digest", true, "compute the sha256 digest while writing (false: write only, as qemu-img does)")
			return func(ctx context.Context, args []string) error {
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
				if *from != string(vm.FormatRaw) {
					return usagef("--from %s: convert reads raw disks only (every build writes disk.raw beside its other formats)", *from)
				}
				if got, err := sniffFormat(fs.Arg(0)); err != nil {
					return err
				} else if got != vm.FormatRaw {
					return fmt.Errorf("%s: the file is a %s disk by its header, not raw: convert reads raw disks only (use the build's disk.raw)", fs.Arg(0), got)
				}
				w, err := vdisk.ForFormat(f, *compress)
				if err != nil {
					return usagef("%v", err)
				}
				// Conversions killed before they finished (kill -9, a
				// crash) left their temporaries beside OUT: take back
				// those no live writer holds.
				if _, err := atomicfile.Reclaim(filepath.Dir(fs.Arg(1))); err != nil {
					return err
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
		})
}

// convertOnly writes in to out through w atomically without hashing it:
// through internal/atomicfile, whose temporary a killed conversion leaves
// for the next one to reclaim.
func convertOnly(ctx context.Context, w vdisk.Writer, in, out string) error {
	src, err := vdisk.OpenFile(in)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := atomicfile.Create(out, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := w.WriteDisk(ctx, f.File, src); err != nil {
		return err
	}
	return f.Commit()
}

// sniffFormat recognizes the virtual-disk containers a raw disk never is,
// by their magic numbers ([vdisk.Sniff]). It never guesses raw: a file
// that is none of these is read as raw because --from says so.
func sniffFormat(path string) (vm.DiskFormat, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	return vdisk.Sniff(f, fi.Size())
}
