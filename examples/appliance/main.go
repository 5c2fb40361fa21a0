// Command appliance builds the nginx and squid appliance images for the
// qemu platform, x86_64, from real packages, and with -boot runs each and
// checks that it serves:
//
//	go run ./examples/appliance -out DIR [-boot]
//
// The packages are Debian's own (systemd, udev, D-Bus, OpenSSH, nginx,
// squid and their dependency closure, Debian's kernel), repackaged as a
// signed APK repository by internal/debrepo from what `make deps` fetched
// (scripts/fetch-boot-packages.sh): it runs offline. Each image lands in
// DIR/nginx and DIR/squid in the build output layout (disk.raw,
// disk.qcow2, the SBOM, the provenance, the signature bundles, key.pub,
// lock.json). The login user is ops; SSH keys reach the machine at boot
// through the platform's metadata, never through the image.
//
// With -boot each image boots in QEMU (KVM when it works here, software
// emulation otherwise) from a copy-on-write overlay: nginx must answer
// GET / through a forwarded port, squid must proxy a request to a server
// on the host. The time from QEMU's start to the answer is printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/internal/vmtest"
	"github.com/hardvm/hardvm/internal/vmtest/guest"
	"github.com/hardvm/hardvm/vm"
)

// Epoch is the SourceDateEpoch of the appliance images: the same packages
// give the same disks.
const Epoch = 1767225600 // 2026-01-01

// Variants are the appliances built.
var Variants = []string{"nginx", "squid"}

// LoginUser is the appliances' login user; its keys come from metadata.
const LoginUser = "ops"

func main() {
	vmtest.MaybeRelay() // QEMU runs this program as the relay to a metadata fake
	out := flag.String("out", "appliance-out", "output directory (DIR/nginx, DIR/squid)")
	platform := flag.String("platform", "qemu", "platform to build for: "+fmt.Sprint(vm.Clouds()))
	arch := flag.String("arch", "x86_64", "architecture: x86_64 or aarch64")
	doBoot := flag.Bool("boot", false, "boot each image and check that it serves")
	verbose := flag.Bool("v", false, "log the build")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := vm.ParseArch(*arch)
	if err == nil {
		_, err = vm.LookupPlatform(vm.Cloud(*platform))
	}
	if err == nil {
		err = run(ctx, os.Stdout, vm.Cloud(*platform), a, *out, *doBoot, log)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "appliance:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, p vm.Cloud, a vm.Arch, out string, doBoot bool, log *slog.Logger) error {
	fmt.Fprintln(w, "==> repository: Debian packages repackaged as signed APKs (internal/debrepo)")
	repo, err := debrepo.Open(ctx, debrepo.WithLogger(log), debrepo.WithArch(a))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "    %s: %d packages from %d Debian packages, kernel %s\n", repo.Dir, len(repo.Packages), len(repo.DebianPackages()), repo.Kernel)
	built := map[string]*hardvm.Output{}
	for _, v := range Variants {
		fmt.Fprintf(w, "==> build %s for %s/%s into %s\n", v, p, a, filepath.Join(out, v))
		o, err := BuildFor(ctx, PlatformSpec(repo, v, p, a), filepath.Join(out, v), log)
		if err != nil {
			return err
		}
		built[v] = o
	}
	if err := printSizes(w, built); err != nil {
		return err
	}
	if !doBoot {
		return nil
	}
	if p != vm.QEMU || a != vm.X86_64 {
		fmt.Fprintf(w, "==> boot nginx on %s's emulated hardware with its metadata\n", p)
		r, err := CheckPlatform(ctx, built["nginx"], p, a, filepath.Join(out, "nginx", "boot"))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "    nginx (%s): page after %v, SSH login with the metadata's key after %v\n", r.Accel, r.Nginx.Round(100e6), r.Login.Round(100e6))
		return nil
	}
	for _, v := range Variants {
		fmt.Fprintf(w, "==> boot %s\n", v)
		r, err := Check(ctx, built[v], v, filepath.Join(out, v, "boot"))
		if err != nil {
			return fmt.Errorf("%s: %w", v, err)
		}
		fmt.Fprintf(w, "    %s (%s): %s after %v\n", v, r.Accel, r.What, r.Elapsed.Round(100e6))
	}
	return nil
}

// Spec is the spec of an appliance: the variant for qemu/x86_64 from repo,
// the ops login user (keys from metadata; extra keys baked in only when
// given), the systemd EFI stub for the UKI.
func Spec(repo *debrepo.Repository, variant string, keys ...string) vm.Spec {
	return PlatformSpec(repo, variant, vm.QEMU, vm.X86_64, keys...)
}

// PlatformSpec is Spec for platform p and architecture a: the image is
// exported in the format its boot check boots (guest.Hardwares).
func PlatformSpec(repo *debrepo.Repository, variant string, p vm.Cloud, a vm.Arch, keys ...string) vm.Spec {
	f := vm.FormatQCOW2
	if hw, ok := guest.Hardwares[p]; ok {
		f = hw.Format
	}
	// no_timer_check: the kernel's check of the timer interrupt fails
	// spuriously under software emulation; harmless elsewhere.
	cmdline := []string{"no_timer_check"}
	if pl, err := vm.LookupPlatform(p); err == nil && pl.Console(a) != a.Console() {
		// QEMU's machine has the architecture's usual UART, not the
		// platform's (Graviton's 16550): its console too, last, so that it
		// is /dev/console.
		cmdline = append(cmdline, "console="+a.Console())
	}
	return vm.Spec{
		Variant: variant, Platform: p, Arch: a,
		Repositories:    []vm.Repository{repo.Spec()},
		Packages:        []string{"systemd-boot-efi"},
		Cmdline:         cmdline,
		Users:           []vm.User{{Name: LoginUser, SSHKeys: keys, Groups: []string{"adm", "systemd-journal"}}},
		Formats:         []vm.DiskFormat{f},
		SourceDateEpoch: Epoch,
	}
}

// Build builds an appliance for qemu/x86_64 with hardvm.Build into dir.
func Build(ctx context.Context, repo *debrepo.Repository, variant, dir string, log *slog.Logger, keys ...string) (*hardvm.Output, error) {
	return BuildFor(ctx, Spec(repo, variant, keys...), dir, log)
}

// BuildFor builds spec with hardvm.Build into dir.
func BuildFor(ctx context.Context, spec vm.Spec, dir string, log *slog.Logger) (*hardvm.Output, error) {
	o, err := hardvm.Build(ctx, spec, hardvm.WithOutputDir(dir), hardvm.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if o.Kernel == "" {
		return nil, errors.New("the image has no kernel: not bootable")
	}
	return o, nil
}

func printSizes(w io.Writer, built map[string]*hardvm.Output) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    variant\tpackages\trootfs (erofs)\tdisk.raw (virtual/allocated)\tdisk.qcow2")
	for _, v := range Variants {
		o := built[v]
		var erofs int64
		for _, p := range o.Disk.Partitions {
			if strings.HasPrefix(p.Name, "root-") && !strings.Contains(p.Name, "verity") {
				erofs = p.Size
			}
		}
		alloc, err := allocated(o.Disk.Path)
		if err != nil {
			return err
		}
		var qcow int64
		for _, a := range o.Artifacts {
			if a.Format == vm.FormatQCOW2 {
				qcow = a.Size
			}
		}
		fmt.Fprintf(tw, "    %s\t%d\t%s\t%s / %s\t%s\n", v, len(o.Lock.Packages), mib(erofs), mib(o.Disk.Size), mib(alloc), mib(qcow))
	}
	return tw.Flush()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
