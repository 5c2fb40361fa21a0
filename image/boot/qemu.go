package boot

import (
	"fmt"
	"os"
	"strconv"

	"github.com/hardvm/hardvm/vm"
)

// QEMU describes a QEMU+OVMF machine that boots a hardvm disk with UEFI,
// its serial console on QEMU's standard output.
type QEMU struct {
	Arch     vm.Arch // default x86_64
	Disk     string  // disk image path
	Format   string  // "raw" (default) or "qcow2"
	MemoryMB int     // default 512
	CPUs     int     // default 1
	// Code and Vars are the OVMF firmware and a writable copy of its
	// variable store (see FindOVMF).
	Code, Vars string
	KVM        bool // use KVM instead of software emulation (TCG)
	// Snapshot keeps the disk unchanged: writes go to a temporary overlay.
	Snapshot bool
	// SecureBoot runs firmware built for Secure Boot (e.g. Debian's
	// OVMF_CODE_4M.secboot.fd or .snakeoil.fd): it needs SMM and a secure
	// pflash, which this turns on (x86_64 only).
	SecureBoot bool
}

// OVMF firmware as Debian's ovmf package installs it.
var ovmfPaths = map[vm.Arch][][2]string{
	vm.X86_64: {
		{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
		{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
		{"/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"},
	},
	vm.Aarch64: {
		{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},
	},
}

// FindOVMF returns the paths of the OVMF code and variable-store template
// for arch (Debian's ovmf or qemu-efi-aarch64 packages). Copy the variable
// store before use: the firmware writes to it.
func FindOVMF(arch vm.Arch) (code, vars string, err error) {
	for _, p := range ovmfPaths[arch] {
		if _, err := os.Stat(p[0]); err != nil {
			continue
		}
		if _, err := os.Stat(p[1]); err != nil {
			continue
		}
		return p[0], p[1], nil
	}
	return "", "", fmt.Errorf("boot: no OVMF firmware for %s found (install Debian's ovmf package)", arch)
}

// Binary returns the QEMU system emulator for the machine's architecture.
func (q QEMU) Binary() string {
	if q.Arch == vm.Aarch64 {
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

// Args returns the QEMU command line (without the binary): UEFI firmware in
// pflash, the disk on virtio-blk, no network, no display, the serial console
// on stdio and no reboot (a reboot ends QEMU).
func (q QEMU) Args() ([]string, error) {
	if q.Disk == "" || q.Code == "" || q.Vars == "" {
		return nil, fmt.Errorf("boot: QEMU needs a disk, OVMF code and a vars copy")
	}
	format := q.Format
	switch format {
	case "":
		format = "raw"
	case "raw", "qcow2":
	default:
		return nil, fmt.Errorf("boot: QEMU disk format %q, want raw or qcow2", format)
	}
	mem, cpus := q.MemoryMB, q.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 1
	}
	machine := "q35"
	if q.Arch == vm.Aarch64 {
		machine = "virt"
		if q.SecureBoot {
			return nil, fmt.Errorf("boot: QEMU Secure Boot is supported for x86_64 only")
		}
	}
	if q.SecureBoot {
		machine += ",smm=on"
	}
	accel := "tcg"
	if q.KVM {
		accel = "kvm"
	}
	args := []string{
		"-machine", machine + ",accel=" + accel,
		"-m", strconv.Itoa(mem),
		"-smp", strconv.Itoa(cpus),
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + q.Code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + q.Vars,
		"-drive", "if=virtio,format=" + format + ",file=" + q.Disk,
		"-nic", "none",
		"-display", "none",
		"-serial", "stdio",
		"-monitor", "none",
		"-no-reboot",
	}
	if q.Arch == vm.Aarch64 {
		args = append(args, "-cpu", "max")
	}
	if q.SecureBoot {
		args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on", "-global", "ICH9-LPC.disable_s3=1")
	}
	if q.Snapshot {
		args = append(args, "-snapshot")
	}
	return args, nil
}
