// Package boot makes hardvm images bootable with UEFI: it assembles a Unified
// Kernel Image (the systemd EFI stub with the kernel, initramfs, command line
// and os-release as PE/COFF sections), writes the initramfs as a newc cpio
// archive from the files of the rootfs, and signs the UKI for Secure Boot
// (Authenticode).
//
// The initramfs runs hardvm's own init (built from internal/initprog and
// embedded here): it loads the kernel modules for virtio, NVMe, device-mapper
// and erofs, finds the root and root-verity partitions, opens the root
// through dm-verity with the root hash from the signed kernel command line,
// mounts it read-only and switches to the image's init. A root that fails
// verification halts the machine with a clear message on the console; the
// unverified device is never mounted.
//
// Everything is deterministic: the same inputs and SourceDateEpoch give the
// same bytes.
package boot
