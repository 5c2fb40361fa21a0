// Package gpt writes and reads GUID Partition Tables (UEFI 2.10, chapter 5)
// with the partition type GUIDs of the Discoverable Partitions
// Specification (DPS), so that systemd-gpt-auto-generator and
// systemd-veritysetup find the root, its dm-verity hash partition and /var
// without a root= on the kernel command line.
//
// [Table.Write] writes the protective MBR, the primary header and entry
// array at LBA 1 and 2, and the backup entry array and header at the end of
// the disk, each with its CRC32. [New] and [Table.Add] lay partitions out
// aligned to 1 MiB. [Read] parses an untrusted disk and checks everything a
// consumer relies on: the protective MBR, signatures, header sizes and
// CRCs, that every LBA lies inside the disk, that the entry arrays do not
// overlap the usable area, entry size and count limits, that partitions lie
// inside the usable area and do not overlap, unique partition GUIDs, and
// that the backup agrees with the primary. Each failure is a [*FieldError]
// naming the structure and field.
//
// GUIDs are held in the byte order of their string form (RFC 4122) and
// written in the mixed-endian order GPT uses on disk: the first three
// fields little-endian, the last two as they are.
//
// The DPS verity convention derives partition UUIDs from the root hash:
// the root partition's UUID is its first 128 bits and the verity
// partition's its last 128 bits, taken as they are (systemd-repart and
// systemd's dissect code copy the bytes without setting UUID version bits),
// see [VerityPartitionUUIDs].
package gpt
