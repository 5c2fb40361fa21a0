// Package fat writes FAT32 file systems, such as the EFI system partition
// of a disk, deterministically from any fs.FS.
//
// It is our own writer. github.com/diskfs/go-diskfs (v1.9.4) can make a
// FAT32 volume, but stamps entries from a package-global clock
// (timestamp.GetTime), which breaks "no hidden globals" and
// reproducibility, and brings a large dependency graph (logrus, xz, lz4,
// xattr) into every program that builds a disk.
//
// The volume has 512-byte sectors, clusters sized as mkfs.fat and Windows
// size them, two FATs, an FSInfo sector with exact free counts and backup
// boot sectors. Files are stored contiguously in walk order; names that
// are not plain upper-case 8.3 names get VFAT long-name entries with
// numbered short aliases (NAME~1.EXT). Every time stamp is the
// SOURCE_DATE_EPOCH given, so the same tree and options give the same
// bytes. fsck.vfat and mtools read the result in tests.
package fat
