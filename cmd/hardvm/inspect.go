package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/vm"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(newInspectCmd)
}

// runInspect reads the headers of a qcow2, VHD or VMDK file safely and
// prints what it read, or why it refuses the file.
func newInspectCmd(e *env) *cobra.Command {
	return leaf(e, "inspect", "read a qcow2, vhd or vmdk header safely", "inspect --format qcow2|vhd|vmdk [--json] FILE",
		"hardvm inspect --format qcow2 disk.qcow2", func(fs *pflag.FlagSet) runFunc {
			format := fs.String("format", "", "the format the file claims to be (never guessed): qcow2, vhd or vmdk")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if fs.NArg() != 1 {
					return usagef("want one FILE, got %d arguments", fs.NArg())
				}
				f := vm.DiskFormat(*format)
				if f != vm.FormatQCOW2 && f != vm.FormatVHD && f != vm.FormatVMDK {
					return usagef("--format must be qcow2, vhd or vmdk, not %q", *format)
				}
				file, err := os.Open(fs.Arg(0))
				if err != nil {
					return err
				}
				defer file.Close()
				fi, err := file.Stat()
				if err != nil {
					return err
				}
				info, err := vdisk.Inspect(file, fi.Size(), f)
				if err != nil {
					return fmt.Errorf("%s: refused: %w", fs.Arg(0), err)
				}
				if *asJSON {
					return writeJSONOut(e.stdout, info)
				}
				fmt.Fprintf(e.stdout, "format:       %s (%s)\nvirtual size: %d bytes\n", info.Format, info.Subformat, info.VirtualSize)
				if info.ClusterSize > 0 {
					fmt.Fprintf(e.stdout, "cluster size: %d bytes\n", info.ClusterSize)
				}
				if info.Compressed {
					fmt.Fprintln(e.stdout, "compressed:   yes")
				}
				if info.UUID != "" {
					fmt.Fprintf(e.stdout, "uuid:         %s\n", info.UUID)
				}
				return nil
			}
		})
}
