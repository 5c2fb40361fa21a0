// Package image turns a [vm.Spec] into disks: it resolves the spec's
// packages into a [Lock], installs them into a [Rootfs], assembles an erofs
// root protected by dm-verity into a GPT [Disk], and exports the disk into
// every virtual-disk format the platform needs, each an [Artifact].
//
//	lock, err := image.Resolve(ctx, spec)
//	root, err := image.Build(ctx, lock)
//	disk, err := image.Assemble(ctx, root, layout)
//	art, err := image.Export(ctx, disk, vdisk.QCOW2{}, "out/disk.qcow2")
//
// Every step streams: no step holds a disk in memory. Same inputs and the
// same SourceDateEpoch give bit-identical outputs.
package image
