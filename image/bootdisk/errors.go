package bootdisk

import (
	"errors"
	"fmt"
)

// Sentinel errors of package bootdisk.
var (
	// ErrLayout reports a disk without the partitions a hardvm disk has:
	// an ESP and one architecture's root and root-verity partitions.
	ErrLayout = errors.New("bootdisk: not a hardvm disk layout")
	// ErrESP reports an EFI system partition that cannot be read as the
	// FAT32 file system hardvm writes, or that lacks the boot loader.
	ErrESP = errors.New("bootdisk: EFI system partition")
	// ErrNoUKI reports an ESP without the removable-media boot loader
	// (EFI/BOOT/BOOT<ARCH>.EFI): a disk that does not boot, whose root hash
	// must come from elsewhere ([WithRootHash]).
	ErrNoUKI = errors.New("bootdisk: no boot loader on the EFI system partition")
	// ErrUKI reports a boot loader that is not a Unified Kernel Image with
	// exactly one roothash= on its command line.
	ErrUKI = errors.New("bootdisk: unified kernel image")
	// ErrVerity reports a root block or hash block whose hash chain does
	// not lead to the root hash, or an unreadable hash tree.
	ErrVerity = errors.New("bootdisk: dm-verity")
)

// BlockError is a root partition block that failed verification.
type BlockError struct {
	Device string // "data" or "hash"
	Block  uint64 // block index on that device
	Level  int    // hash tree level of a hash block (0 = leaves)
}

func (e *BlockError) Error() string {
	if e.Device == "hash" {
		return fmt.Sprintf("%v: hash block %d (level %d) does not match its parent", ErrVerity, e.Block, e.Level)
	}
	return fmt.Sprintf("%v: data block %d does not match its hash", ErrVerity, e.Block)
}

// Unwrap returns ErrVerity.
func (e *BlockError) Unwrap() error { return ErrVerity }
