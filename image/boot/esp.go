package boot

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// ESPLoaderPath returns where the removable-media default loader of arch
// goes on the ESP: EFI/BOOT/BOOTX64.EFI or EFI/BOOT/BOOTAA64.EFI.
func ESPLoaderPath(arch vm.Arch) string {
	return "EFI/BOOT/BOOT" + strings.ToUpper(arch.UEFI()) + ".EFI"
}

// Cmdline returns the kernel command line of an image with the given
// dm-verity root hash: the console arguments, roothash=, systemd.verity=no
// (the init has set up the root), the verity check mode and the extra
// arguments, in that order.
func Cmdline(rootHash string, opts ...Option) (string, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return "", err
	}
	return cmdline(rootHash, o)
}

func cmdline(rootHash string, o options) (string, error) {
	b, err := hex.DecodeString(rootHash)
	if err != nil || (len(b) != 32 && len(b) != 64) {
		return "", fmt.Errorf("%w: %q is not a hex SHA-256 or SHA-512 digest", ErrRootHash, rootHash)
	}
	args := append([]string(nil), o.console...)
	// systemd.verity=no: hardvm's init has opened the verified root before
	// systemd starts; systemd's veritysetup generator, which roothash=
	// wakes, would only wait for the partitions' udev links to open it
	// again, and send the machine to emergency mode when a slow coldplug
	// (software emulation, a loaded host) takes longer than 90 s.
	args = append(args, "roothash="+strings.ToLower(rootHash), "systemd.verity=no")
	if o.lazyVerity {
		args = append(args, "hardvm.verity=check=lazy")
	}
	args = append(args, o.cmdline...)
	return strings.Join(args, " "), nil
}

// BuildUKI builds the Unified Kernel Image of root for the dm-verity root
// hash rootHash: the kernel, the EFI stub and os-release from root (unless
// given by options), an initramfs written by WriteInitramfs and the command
// line from Cmdline. With WithSigner the UKI is signed for Secure Boot.
func BuildUKI(ctx context.Context, root fs.FS, rootHash string, opts ...Option) ([]byte, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	cl, err := cmdline(rootHash, o)
	if err != nil {
		return nil, err
	}
	var initrd bytes.Buffer
	info, err := writeInitramfs(ctx, &initrd, root, o)
	if err != nil {
		return nil, err
	}
	linux, err := fs.ReadFile(root, info.Kernel.Image)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrKernel, info.Kernel.Image, err)
	}
	stub := o.stub
	if stub == nil {
		p := "usr/lib/systemd/boot/efi/linux" + o.arch.UEFI() + ".efi.stub"
		if stub, err = fs.ReadFile(root, p); err != nil {
			return nil, fmt.Errorf("%w: no EFI stub in the rootfs (%s, from systemd-boot-efi): %w", ErrPE, p, err)
		}
	}
	osrel := o.osRelease
	if osrel == nil {
		for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
			if b, err := fs.ReadFile(root, p); err == nil {
				osrel = b
				break
			}
		}
	}
	u := UKI{Stub: stub, Linux: linux, Initrd: initrd.Bytes(), Cmdline: cl, OSRelease: osrel, Uname: info.Kernel.Version, SBAT: o.sbat}
	img, err := u.Build()
	if err != nil {
		return nil, err
	}
	o.log.Info("uki", "kernel", info.Kernel.Version, "initrd", initrd.Len(), "modules", len(info.Modules), "size", len(img), "signed", o.signer != nil)
	if o.signer != nil {
		return Sign(img, *o.signer)
	}
	return img, nil
}

// ESP returns the files of the EFI system partition for root: the UKI
// (BuildUKI) as the removable-media default loader, which UEFI firmware
// boots without any boot entry. It is what image.Layout.ESP takes.
func ESP(ctx context.Context, root fs.FS, rootHash string, opts ...Option) (map[string][]byte, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	uki, err := BuildUKI(ctx, root, rootHash, opts...)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{ESPLoaderPath(o.arch): uki}, nil
}
