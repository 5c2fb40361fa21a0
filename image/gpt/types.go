package gpt

import "fmt"

// Partition type GUIDs of the Discoverable Partitions Specification
// (https://uapi-group.org/specifications/specs/discoverable_partitions_specification/).
var (
	TypeESP                 = mustGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b") // EFI System Partition
	TypeXBOOTLDR            = mustGUID("bc13c2ff-59e6-4262-a352-b275fd6f7172") // Extended Boot Loader
	TypeRootX86_64          = mustGUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	TypeRootVerityX86_64    = mustGUID("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5")
	TypeRootVeritySigX86_64 = mustGUID("41092b05-9fc8-4523-994f-2def0408b176")
	TypeRootARM64           = mustGUID("b921b045-1df0-41c3-af44-4c6f280d3fae")
	TypeRootVerityARM64     = mustGUID("df3300ce-d69f-4c92-978c-9bfb0f38d820")
	TypeRootVeritySigARM64  = mustGUID("6db69de6-29f4-4758-a7a5-962190f00ce3")
	TypeVar                 = mustGUID("4d21b016-b534-45c2-a9fb-5c16e091fd2d") // /var
	TypeSwap                = mustGUID("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f")
	TypeLinuxData           = mustGUID("0fc63daf-8483-4772-8e79-3d69d8477de4") // other data, not auto-mounted
)

// RootTypes are the DPS type GUIDs of one architecture's root partition,
// its dm-verity hash partition and its verity signature partition.
type RootTypes struct {
	Root, Verity, VeritySig GUID
}

// RootTypesFor returns the DPS root partition types of an architecture,
// named as uname -m names it ("x86_64", "aarch64") or as the DPS does
// ("x86-64", "arm64").
func RootTypesFor(arch string) (RootTypes, error) {
	switch arch {
	case "x86_64", "x86-64":
		return RootTypes{TypeRootX86_64, TypeRootVerityX86_64, TypeRootVeritySigX86_64}, nil
	case "aarch64", "arm64":
		return RootTypes{TypeRootARM64, TypeRootVerityARM64, TypeRootVeritySigARM64}, nil
	}
	return RootTypes{}, fmt.Errorf("%w: no DPS root partition type for architecture %q", ErrLayout, arch)
}

// Attributes are the 64 attribute bits of a partition entry.
type Attributes uint64

// Attribute bits: 0-2 are defined by UEFI, 48-63 by the partition type; for
// DPS types bit 59 is grow-file-system, 60 read-only and 63 no-auto.
const (
	AttrRequired   Attributes = 1 << 0  // platform required partition
	AttrNoBlockIO  Attributes = 1 << 1  // firmware must not produce a block I/O protocol
	AttrLegacyBoot Attributes = 1 << 2  // legacy BIOS bootable
	AttrGrowFS     Attributes = 1 << 59 // DPS: grow the file system to the partition at first mount
	AttrReadOnly   Attributes = 1 << 60 // DPS: mount read-only
	AttrNoAuto     Attributes = 1 << 63 // DPS: do not auto-discover
)

// DefaultAttributes returns the attributes hardvm gives a partition of the
// type: read-only for root, root-verity and root-verity-sig (the image is
// immutable), grow-fs for /var (it takes the disk's extra space), none for
// the rest.
func DefaultAttributes(typ GUID) Attributes {
	switch typ {
	case TypeRootX86_64, TypeRootVerityX86_64, TypeRootVeritySigX86_64,
		TypeRootARM64, TypeRootVerityARM64, TypeRootVeritySigARM64:
		return AttrReadOnly
	case TypeVar:
		return AttrGrowFS
	}
	return 0
}
