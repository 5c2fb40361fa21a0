package vm

import "fmt"

// Arch is a CPU architecture, named as APK repositories name it.
type Arch string

// The architectures hardvm builds for.
const (
	X86_64  Arch = "x86_64"
	Aarch64 Arch = "aarch64"
)

// Arches lists every supported architecture in a stable order.
func Arches() []Arch { return []Arch{X86_64, Aarch64} }

// Valid reports whether a is a supported architecture.
func (a Arch) Valid() bool { return a == X86_64 || a == Aarch64 }

// GOARCH returns the Go name of a (amd64, arm64).
func (a Arch) GOARCH() string {
	switch a {
	case X86_64:
		return "amd64"
	case Aarch64:
		return "arm64"
	}
	return ""
}

// UEFI returns the suffix UEFI uses for a in removable-media loader names:
// x64 for EFI/BOOT/BOOTX64.EFI, aa64 for EFI/BOOT/BOOTAA64.EFI.
func (a Arch) UEFI() string {
	switch a {
	case X86_64:
		return "x64"
	case Aarch64:
		return "aa64"
	}
	return ""
}

// Console returns the serial console device a machine of architecture a
// usually has: the PC's 16550 UART ttyS0 on x86_64, the PL011 ttyAMA0 of
// QEMU's virt machine and of most aarch64 servers on aarch64. A platform
// may say otherwise (Platform.Console).
func (a Arch) Console() string {
	switch a {
	case X86_64:
		return "ttyS0"
	case Aarch64:
		return "ttyAMA0"
	}
	return ""
}

// DefaultLoader returns the removable-media default loader path on the ESP.
func (a Arch) DefaultLoader() string {
	switch a {
	case X86_64:
		return "EFI/BOOT/BOOTX64.EFI"
	case Aarch64:
		return "EFI/BOOT/BOOTAA64.EFI"
	}
	return ""
}

// ParseArch parses an APK architecture name; it also accepts the Go names.
func ParseArch(s string) (Arch, error) {
	switch s {
	case "x86_64", "amd64":
		return X86_64, nil
	case "aarch64", "arm64":
		return Aarch64, nil
	}
	return "", fmt.Errorf("%w: arch %q (want x86_64 or aarch64)", ErrUnknown, s)
}
