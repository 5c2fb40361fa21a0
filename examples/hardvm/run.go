package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/vm"
)

// runRun boots a disk in QEMU with OVMF (UEFI), the serial console on the
// terminal, like `linuxkit run`. The disk is not modified (QEMU's snapshot
// mode) unless --write is given.
func runRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "run", "run DISK [--format raw|qcow2] [--memory MiB] [--cpus N] [--kvm] [--write] [--secure-boot --firmware CODE --vars VARS]",
		"hardvm run out/base-qemu-x86_64.qcow2")
	format := fs.String("format", "", "disk format: raw or qcow2 (default: from the file name)")
	memory := fs.Int("memory", 512, "memory in MiB")
	cpus := fs.Int("cpus", 1, "virtual CPUs")
	kvm := fs.Bool("kvm", false, "use KVM (default: software emulation, works everywhere)")
	arch := fs.String("arch", string(vm.X86_64), "architecture of the image: x86_64 or aarch64")
	write := fs.Bool("write", false, "let the guest write to the disk (default: changes are discarded)")
	dryRun := fs.Bool("dry-run", false, "print the QEMU command line instead of running it")
	firmware := fs.String("firmware", "", "OVMF code file (default: the ovmf package's)")
	varsFlag := fs.String("vars", "", "OVMF variable store template, copied before use (default: the ovmf package's)")
	secureBoot := fs.Bool("secure-boot", false, "firmware with Secure Boot (SMM), e.g. --firmware OVMF_CODE_4M.secboot.fd --vars with your db key enrolled")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one DISK, got %d arguments", fs.NArg())
	}
	disk := fs.Arg(0)
	if *format == "" {
		*format = "raw"
		if strings.EqualFold(filepath.Ext(disk), ".qcow2") {
			*format = "qcow2"
		}
	}
	if *format != "raw" && *format != "qcow2" {
		return usagef("--format %q: want raw or qcow2", *format)
	}
	a := vm.Arch(*arch)
	if !a.Valid() {
		return usagef("--arch %q: want x86_64 or aarch64", *arch)
	}
	if *memory < 64 || *cpus < 1 {
		return usagef("--memory must be at least 64 and --cpus at least 1")
	}
	if _, err := os.Stat(disk); err != nil {
		return err
	}
	code, varsTemplate := *firmware, *varsFlag
	if code == "" || varsTemplate == "" {
		c, v, err := boot.FindOVMF(a)
		if err != nil {
			return err
		}
		if code == "" {
			code = c
		}
		if varsTemplate == "" {
			varsTemplate = v
		}
	}
	// The firmware writes its variable store: give it a private copy.
	tmp, err := os.MkdirTemp("", "hardvm-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	vars := filepath.Join(tmp, filepath.Base(varsTemplate))
	b, err := os.ReadFile(varsTemplate)
	if err != nil {
		return err
	}
	if err := os.WriteFile(vars, b, 0o600); err != nil {
		return err
	}
	q := boot.QEMU{Arch: a, Disk: disk, Format: *format, MemoryMB: *memory, CPUs: *cpus, Code: code, Vars: vars, KVM: *kvm, Snapshot: !*write, SecureBoot: *secureBoot}
	qargs, err := q.Args()
	if err != nil {
		return err
	}
	if *dryRun {
		fmt.Fprintln(e.stdout, q.Binary(), strings.Join(qargs, " "))
		return nil
	}
	bin, err := exec.LookPath(q.Binary())
	if err != nil {
		return fmt.Errorf("%s not found (Debian: apt-get install qemu-system-x86 ovmf): %w", q.Binary(), err)
	}
	fmt.Fprintf(e.stderr, "hardvm run: booting %s (%s) with UEFI; the serial console follows; power off the guest or press Ctrl-C to stop\n", disk, *format)
	cmd := exec.CommandContext(ctx, bin, qargs...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.stdout, e.stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ctx.Err() != nil {
			return nil // interrupted by the user
		}
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}
