package boot

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Kernel is the kernel a rootfs carries.
type Kernel struct {
	Version string // what `uname -r` says, e.g. "6.1.0-56-amd64"
	Image   string // path of the kernel image in the rootfs, e.g. "boot/vmlinuz-6.1.0-56-amd64"
	Modules string // module directory in the rootfs, e.g. "lib/modules/6.1.0-56-amd64"
}

// KernelVersion returns the version of the kernel in root (as `uname -r`
// prints it): what a lock, SBOM or catalog entry records as the image's
// kernel. It fails with ErrKernel when root has no kernel or several.
func KernelVersion(root fs.FS) (string, error) {
	k, err := FindKernel(root, "")
	return k.Version, err
}

// FindKernel finds the kernel of root: its module directory under
// lib/modules (or usr/lib/modules) and its image (boot/vmlinuz-<version>,
// lib/modules/<version>/vmlinuz, or the only boot/vmlinuz*). With version
// "" root must hold exactly one kernel.
func FindKernel(root fs.FS, version string) (Kernel, error) {
	var found []Kernel
	for _, dir := range []string{"lib/modules", "usr/lib/modules"} {
		ents, err := fs.ReadDir(root, dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() || version != "" && e.Name() != version {
				continue
			}
			if _, err := fs.Stat(root, path.Join(dir, e.Name(), "kernel")); err != nil {
				continue // not a kernel's module tree (e.g. only extra modules)
			}
			dup := false
			for _, k := range found {
				dup = dup || k.Version == e.Name()
			}
			if !dup {
				found = append(found, Kernel{Version: e.Name(), Modules: path.Join(dir, e.Name())})
			}
		}
	}
	switch {
	case len(found) == 0 && version != "":
		return Kernel{}, fmt.Errorf("%w: no lib/modules/%s in the rootfs", ErrKernel, version)
	case len(found) == 0:
		return Kernel{}, fmt.Errorf("%w: no lib/modules/<version>/kernel in the rootfs", ErrKernel)
	case len(found) > 1:
		var vs []string
		for _, k := range found {
			vs = append(vs, k.Version)
		}
		sort.Strings(vs)
		return Kernel{}, fmt.Errorf("%w: several kernels in the rootfs (%s); choose one", ErrKernel, strings.Join(vs, ", "))
	}
	k := found[0]
	for _, p := range []string{
		"boot/vmlinuz-" + k.Version,
		k.Modules + "/vmlinuz",
		"boot/vmlinux-" + k.Version,
	} {
		if fi, err := fs.Stat(root, p); err == nil && fi.Mode().IsRegular() {
			k.Image = p
			return k, nil
		}
	}
	// Alpine names the image after the flavour (boot/vmlinuz-virt).
	ents, _ := fs.ReadDir(root, "boot")
	var imgs []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "vmlinuz") {
			imgs = append(imgs, "boot/"+e.Name())
		}
	}
	if len(imgs) == 1 {
		k.Image = imgs[0]
		return k, nil
	}
	return Kernel{}, fmt.Errorf("%w: no kernel image for %s (looked for boot/vmlinuz-%s, %s/vmlinuz, one boot/vmlinuz*; found %d)",
		ErrKernel, k.Version, k.Version, k.Modules, len(imgs))
}
