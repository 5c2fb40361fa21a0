package image

import (
	"context"

	"github.com/hardvm/hardvm/vm"
)

// Layout says how [Assemble] lays a rootfs out on a disk.
type Layout struct {
	Arch    vm.Arch
	Size    int64 // virtual disk size in bytes (aligned to the platform by the caller)
	ESPSize int64 // size of the EFI system partition; default 64 MiB
	// VarSize is the size of the writable ext4 /var partition every disk
	// has (a multiple of 1 MiB, at least MinVarSize). 0: the rest of the
	// disk when Size is set (systemd-repart in the image grows it further
	// when the disk is launched larger), else DefaultVarSize.
	VarSize  int64
	HashAlgo string // dm-verity hash: "sha256" (default) or "sha512"
	// ESP holds the files placed on the EFI system partition, by path
	// (e.g. "EFI/BOOT/BOOTX64.EFI"); the boot step fills it.
	ESP map[string][]byte
	// ESPFunc, if set, returns more ESP files once the dm-verity root hash
	// is known (boot.ESP builds the UKI whose command line carries it), so
	// the root is written and hashed once.
	ESPFunc func(ctx context.Context, rootHash string) (map[string][]byte, error) `json:"-"`
	// Seed feeds the derivation of the disk GUID, the erofs UUID and the
	// verity salt; with SourceDateEpoch it makes a disk reproducible.
	Seed            string
	SourceDateEpoch int64
}

// Partition is one partition of an assembled disk.
type Partition struct {
	Name   string `json:"name"`   // GPT partition name, e.g. "root-x86-64"
	Type   string `json:"type"`   // type GUID
	UUID   string `json:"uuid"`   // partition GUID
	Offset int64  `json:"offset"` // bytes from the start of the disk
	Size   int64  `json:"size"`
}

// Disk is an assembled raw disk image: a sparse file with a GPT holding the
// ESP, the erofs root, its dm-verity hash tree and /var.
type Disk struct {
	Path       string      `json:"path"`
	Size       int64       `json:"size"`
	Arch       vm.Arch     `json:"arch"`
	DiskGUID   string      `json:"disk_guid"`
	RootHash   string      `json:"root_hash"` // hex dm-verity root hash
	Salt       string      `json:"salt"`      // hex dm-verity salt
	HashAlgo   string      `json:"hash_algo"` // sha256 or sha512
	Partitions []Partition `json:"partitions"`
}
