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
// The entry points: [ESP] returns the files of the EFI system partition
// (the UKI as EFI/BOOT/BOOTX64.EFI) for a rootfs and its dm-verity root hash,
// which is what image.Layout.ESP takes; [BuildUKI], [WriteInitramfs], [UKI]
// and [Sign] are the steps it is made of. [KernelVersion] reports the
// kernel of a rootfs (uname -r) for the lock, the SBOM and the catalog.
// [QEMU] and [FindOVMF] describe a machine that boots an image with UEFI
// (the CLI's `hardvm run`); package boottest boots images in tests.
//
// Everything is deterministic: the same inputs and SourceDateEpoch give the
// same bytes.
package boot
