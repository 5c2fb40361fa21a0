// Package vdisk encodes raw disks into the virtual-disk formats that clouds
// and hypervisors import, reads the headers of such files safely, and reads
// the guest disk inside them in place.
//
// Each format is a [Writer] value: [Raw] (sparse), [QCOW2] (v3, optionally
// compressed), [VHD] (fixed, as Azure wants), [VMDK] (streamOptimized, as
// vSphere imports), [GCE] (disk.raw in a gzip'd oldgnu sparse tar) and [OVA]
// (an OVF package holding a streamOptimized VMDK). A writer reads a [Source]
// (an io.ReaderAt with a size and its data extents) and streams the encoded
// disk to a [Destination], an io.Writer that qcow2 and OVA also patch with
// WriteAt to write a header last; the other formats are [StreamWriter]s,
// which write to any io.Writer. A writer never holds the disk in memory,
// skips the holes the source reports, compresses on every core where the
// format compresses, stops when its context is cancelled and reports
// progress to a callback.
// Output depends only on the source and the writer's fields: two writes of
// the same disk are byte-identical.
//
// [Inspect] reads qcow2, VHD and VMDK headers of untrusted files for the
// format the caller names (it never guesses) and refuses the features that
// make a disk file reach beyond itself: backing files, external data files,
// extents in other files, and tables or sizes that do not add up.
//
// A [Reader] ([Open], [NewReader]) is the guest disk inside a raw, fixed
// VHD, qcow2 (plain or deflate-compressed, as ours and `qemu-img convert
// -c` write them), VMDK (streamOptimized or monolithicSparse) or OVA file,
// as an io.ReaderAt: it validates the headers as Inspect does, then reads
// tables, clusters and grains on demand, each read bounded by the file and
// each decompressed block exactly one block, keeping a few decoded tables
// and blocks, never the disk. [Sniff] names a file's format by its magic
// numbers.
//
// Package vdisktest holds the conformance kit that checks any Writer with
// qemu-img.
package vdisk
