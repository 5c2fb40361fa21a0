// Command containerhost builds the `host` container-host image for the
// qemu platform, x86_64, from real packages (Debian's containerd and runc,
// repackaged by internal/debrepo), and with -boot runs it: containerd
// pulls a small busybox image from a registry through the mirror the
// machine's user data names, and runs it.
//
//	go run ./examples/containerhost -out DIR [-boot]
//
// The registry is Debian's docker-registry on 127.0.0.1, which the guest
// reaches at 10.0.2.2 (QEMU's user network); the image is built here
// from Debian's busybox-static (one layer, an OCI manifest) and pushed
// with go-containerregistry. The user data is a #hardvm-config document
// in the machine's NoCloud seed:
//
//	#hardvm-config
//	containerd:
//	  registries:
//	    - host: registry.hardvm.test
//	      mirrors: ["http://10.0.2.2:PORT"]
//	    - host: 10.0.2.2:PORT
//	      plainHTTP: true
//
// so that registry.hardvm.test/busybox:1 resolves only through the mirror
// the first-boot agent wrote to containerd's hosts directory, and Docker
// (which the test image adds) pulls 10.0.2.2:PORT/busybox:1 over HTTP
// because the agent's daemon.json lists it as an insecure registry.
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
	"time"

	"github.com/hardvm/hardvm"
	"github.com/hardvm/hardvm/internal/debrepo"
	"github.com/hardvm/hardvm/vm"
)

// Epoch is the SourceDateEpoch of the images: the same packages give the
// same disks.
const Epoch = 1767225600 // 2026-01-01

// LoginUser is the login user; its keys come from metadata. It may sudo
// (the image carries sudo) and is in the docker group, which owns
// Docker's socket.
const LoginUser = "ops"

// RegistryHost is the registry name the test image is named with; only
// the user data's mirror makes it resolve.
const RegistryHost = "registry.hardvm.test"

func main() {
	out := flag.String("out", "containerhost-out", "output directory")
	doBoot := flag.Bool("boot", false, "boot the image and run a container in it")
	verbose := flag.Bool("v", false, "log the build")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if err := run(ctx, os.Stdout, *out, *doBoot, log); err != nil {
		fmt.Fprintln(os.Stderr, "containerhost:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, out string, doBoot bool, log *slog.Logger) error {
	repo, err := debrepo.Open(ctx, debrepo.WithLogger(log))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "==> build host for qemu/x86_64 into %s\n", filepath.Join(out, "host"))
	o, err := Build(ctx, repo, "host", vm.QEMU, filepath.Join(out, "host"), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "    %d packages, %s\n", len(o.Lock.Packages), o.Disk.Path)
	if !doBoot {
		return nil
	}
	fmt.Fprintln(w, "==> boot host: containerd pulls from docker-registry through the user data's mirror and runs busybox")
	r, err := Check(ctx, o, filepath.Join(out, "boot"))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "    %s: %q after %v\n", r.Accel, r.Output, r.Elapsed.Round(100*time.Millisecond))
	return nil
}

// Spec is the spec of a container host of variant on platform from repo:
// the ops login user with sudo and in the docker group (keys from
// metadata), the systemd EFI stub for the UKI, a qcow2 disk (raw off
// QEMU).
func Spec(repo *debrepo.Repository, variant string, platform vm.Cloud) vm.Spec {
	format := vm.FormatQCOW2
	if platform != vm.QEMU {
		format = vm.FormatRaw
	}
	return vm.Spec{
		Variant: variant, Platform: platform, Arch: vm.X86_64,
		Repositories: []vm.Repository{repo.Spec()},
		// sudo: the login user runs ctr as root (ctr reads the image's
		// /etc/group through a mount, which only root may make). Docker:
		// a host may add it (the ecs variant has it); its unit is then
		// enabled and configured from user data too.
		Packages: []string{"systemd-boot-efi", "sudo", "docker"},
		// no_timer_check: the kernel's check of the timer interrupt fails
		// spuriously under software emulation; harmless elsewhere.
		Cmdline:         []string{"no_timer_check"},
		Users:           []vm.User{{Name: LoginUser, Groups: []string{"adm", "systemd-journal", "docker"}, Sudo: true}},
		Formats:         []vm.DiskFormat{format},
		SourceDateEpoch: Epoch,
	}
}

// Build builds a container host with hardvm.Build into dir.
func Build(ctx context.Context, repo *debrepo.Repository, variant string, platform vm.Cloud, dir string, log *slog.Logger) (*hardvm.Output, error) {
	o, err := hardvm.Build(ctx, Spec(repo, variant, platform), hardvm.WithOutputDir(dir), hardvm.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if o.Kernel == "" {
		return nil, errors.New("the image has no kernel: not bootable")
	}
	return o, nil
}
