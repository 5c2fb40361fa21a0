package boot

import (
	"errors"
	"fmt"
)

// Sentinel errors of package boot.
var (
	// ErrCPIO reports an entry the newc cpio writer cannot encode.
	ErrCPIO = errors.New("boot: cpio")
	// ErrPE reports an EFI stub (PE/COFF image) that cannot be parsed or
	// extended.
	ErrPE = errors.New("boot: bad PE image")
	// ErrNoRoom reports an EFI stub without header space for the UKI's
	// section headers.
	ErrNoRoom = fmt.Errorf("%w: no room for section headers", ErrPE)
	// ErrSign reports a failure to Authenticode-sign an image.
	ErrSign = errors.New("boot: sign")
	// ErrKernel reports a rootfs without a usable kernel (no /boot/vmlinuz-*
	// or /lib/modules/<version>, or several versions without a choice).
	ErrKernel = errors.New("boot: kernel")
	// ErrModule reports a kernel module that is missing or unreadable.
	ErrModule = errors.New("boot: kernel module")
	// ErrRootHash reports a malformed dm-verity root hash.
	ErrRootHash = errors.New("boot: bad root hash")
)

// ModuleError says which kernel module failed and why.
type ModuleError struct {
	Module string // module name, e.g. "dm_verity"
	Path   string // path in the rootfs, when known
	Err    error
}

func (e *ModuleError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("boot: kernel module %s (%s): %v", e.Module, e.Path, e.Err)
	}
	return fmt.Sprintf("boot: kernel module %s: %v", e.Module, e.Err)
}

func (e *ModuleError) Unwrap() error { return e.Err }

// Is makes every ModuleError match ErrModule.
func (e *ModuleError) Is(target error) bool { return target == ErrModule }
