package boot

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// InitramfsInfo describes a written initramfs.
type InitramfsInfo struct {
	Kernel  Kernel
	Modules []string // module files in load order, paths in the rootfs
	Size    int64    // bytes written
}

// modulesList is where the init finds the modules to load, in order.
const modulesList = "etc/hardvm/modules"

// WriteInitramfs writes the initramfs for the kernel of root to w as a newc
// cpio archive: hardvm's init as /init, /dev/console, the kernel modules
// (DefaultModules or WithModules, with their dependencies from modules.dep or
// the modules' own .modinfo, built-in ones left out) copied from root, and
// the list of modules to load. It is deterministic.
func WriteInitramfs(ctx context.Context, w io.Writer, root fs.FS, opts ...Option) (InitramfsInfo, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return InitramfsInfo{}, err
	}
	return writeInitramfs(ctx, w, root, o)
}

func writeInitramfs(ctx context.Context, w io.Writer, root fs.FS, o options) (InitramfsInfo, error) {
	k, err := FindKernel(root, o.kernelVersion)
	if err != nil {
		return InitramfsInfo{}, err
	}
	init, err := InitProgram(o.arch)
	if err != nil {
		return InitramfsInfo{}, err
	}
	tree, err := loadModuleTree(root, k.Modules)
	if err != nil {
		return InitramfsInfo{}, err
	}
	names := o.modules
	if o.hashModules {
		for _, m := range HashModules[o.arch] {
			if _, ok := tree.files[m]; ok {
				names = append(names, m)
			}
		}
	}
	mods, err := tree.resolve(names)
	if err != nil {
		return InitramfsInfo{}, err
	}
	o.log.Debug("initramfs", "kernel", k.Version, "modules", len(mods))

	cw := &countWriter{w: w}
	c := NewCPIOWriter(cw, o.epoch)
	dirs := map[string]bool{"dev": true, "proc": true, "sys": true, "sysroot": true, "etc/hardvm": true, "etc": true}
	// Modules live in the initramfs at their path with / as root.
	for _, m := range mods {
		for d := path.Dir(m); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var dl []string
	for d := range dirs {
		dl = append(dl, d)
	}
	sort.Strings(dl) // parents sort before children
	for _, d := range dl {
		if err := c.WriteEntry(CPIOEntry{Name: d, Mode: fs.ModeDir | 0o755}, nil); err != nil {
			return InitramfsInfo{}, err
		}
	}
	if err := c.WriteEntry(CPIOEntry{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, RdevMajor: 5, RdevMinor: 1}, nil); err != nil {
		return InitramfsInfo{}, err
	}
	if err := c.WriteEntry(CPIOEntry{Name: "init", Mode: 0o755, Size: int64(len(init))}, strings.NewReader(string(init))); err != nil {
		return InitramfsInfo{}, err
	}
	var list strings.Builder
	fmt.Fprintf(&list, "# kernel %s: modules to load, in order\n", k.Version)
	for _, m := range mods {
		list.WriteString("/" + m + "\n")
	}
	if err := c.WriteEntry(CPIOEntry{Name: modulesList, Mode: 0o644, Size: int64(list.Len())}, strings.NewReader(list.String())); err != nil {
		return InitramfsInfo{}, err
	}
	for _, m := range mods {
		if err := ctx.Err(); err != nil {
			return InitramfsInfo{}, err
		}
		if err := copyModule(c, root, m); err != nil {
			return InitramfsInfo{}, err
		}
	}
	if err := c.Close(); err != nil {
		return InitramfsInfo{}, err
	}
	return InitramfsInfo{Kernel: k, Modules: mods, Size: cw.n}, nil
}

func copyModule(c *CPIOWriter, root fs.FS, p string) error {
	f, err := root.Open(p)
	if err != nil {
		return &ModuleError{Module: moduleName(p), Path: p, Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return &ModuleError{Module: moduleName(p), Path: p, Err: err}
	}
	if !fi.Mode().IsRegular() {
		return &ModuleError{Module: moduleName(p), Path: p, Err: fmt.Errorf("not a regular file (%v)", fi.Mode().Type())}
	}
	return c.WriteEntry(CPIOEntry{Name: p, Mode: 0o644, Size: fi.Size()}, f)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
