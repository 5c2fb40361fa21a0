// Package bootdisk reads a raw disk that hardvm assembled as the machine
// would boot it: it reads the GPT, finds the EFI system partition and the
// Discoverable Partitions root and root-verity partitions of an
// architecture, reads the Unified Kernel Image the firmware would start
// (EFI/BOOT/BOOT<ARCH>.EFI) from the ESP, takes the dm-verity root hash
// from the UKI's .cmdline section, and opens the root partition's EROFS
// file system through a reader with dm-verity semantics: a data block is
// used only after its hash chain up to that root hash checks.
//
// The root hash is the disk's own: it proves the root is the one this
// disk's UKI would mount, not who built the disk. [Disk.UKISigned] reports
// whether the UKI carries an Authenticode signature (not checked here);
// proof of origin comes from the disk's signed provenance, which callers
// check against the disk's digest before they trust anything read.
//
// Every structure is read with bounds: the GPT by package gpt, the FAT32
// directory entries and cluster chains of the ESP by this package, the PE
// sections by debug/pe after a size check, the file system by
// package erofs.
package bootdisk
