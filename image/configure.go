package image

import (
	"bytes"
	"fmt"
	"io/fs"

	"github.com/hardvm/hardvm/image/osconfig"
	"github.com/hardvm/hardvm/vm"
)

// Configure configures the operating system of an installed tree for a
// spec's variant, as Build does after installing: it checks that
// /etc/os-release came from a package, then runs osconfig.Apply (accounts
// with fixed IDs, units, network, the writable state on /var, SSH host keys
// made at first boot, the hardening baseline). It returns what was
// applied; Build records it in the lock. Errors wrap [ErrConfigure] and
// osconfig.ErrConfigure.
func Configure(root *Rootfs, spec vm.Spec) (*vm.Configuration, error) {
	if err := checkOSRelease(root); err != nil {
		return nil, err
	}
	cfg, err := osconfig.Apply(osTree{root}, spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfigure, err)
	}
	return cfg, nil
}

// checkOSRelease requires /etc/os-release (or /usr/lib/os-release) to be a
// file some package installed.
func checkOSRelease(root *Rootfs) error {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		fi, err := root.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if a, ok := fi.Sys().(*FileAttr); ok && a.Package != "" {
			return nil
		}
		return fmt.Errorf("%w: %s was not installed by a package", ErrConfigure, p)
	}
	return fmt.Errorf("%w: no package installed /etc/os-release", ErrConfigure)
}

// osTree is a Rootfs as an osconfig.Tree.
type osTree struct{ r *Rootfs }

var _ osconfig.Tree = osTree{}

func (t osTree) Open(name string) (fs.File, error)          { return t.r.Open(name) }
func (t osTree) ReadFile(name string) ([]byte, error)       { return t.r.ReadFile(name) }
func (t osTree) Stat(name string) (fs.FileInfo, error)      { return t.r.Stat(name) }
func (t osTree) Lstat(name string) (fs.FileInfo, error)     { return t.r.Lstat(name) }
func (t osTree) ReadDir(name string) ([]fs.DirEntry, error) { return t.r.ReadDir(name) }
func (t osTree) ReadLink(name string) (string, error)       { return t.r.ReadLink(name) }
func (t osTree) Symlink(target, name string) error          { return t.r.Symlink(target, name, FileAttr{}) }
func (t osTree) Link(oldname, newname string) error         { return t.r.Link(oldname, newname) }
func (t osTree) Remove(name string) error                   { return t.r.Remove(name) }

func (t osTree) Owner(name string) (osconfig.Owner, error) {
	fi, err := t.r.Lstat(name)
	if err != nil {
		return osconfig.Owner{}, err
	}
	a, _ := fi.Sys().(*FileAttr)
	if a == nil {
		return osconfig.Owner{}, nil
	}
	return osconfig.Owner{UID: a.UID, GID: a.GID}, nil
}

func (t osTree) WriteFile(name string, data []byte, perm fs.FileMode, o osconfig.Owner) error {
	return t.r.WriteFile(name, bytes.NewReader(data), perm, FileAttr{UID: o.UID, GID: o.GID})
}

func (t osTree) Mkdir(name string, perm fs.FileMode, o osconfig.Owner) error {
	return t.r.Mkdir(name, perm, FileAttr{UID: o.UID, GID: o.GID})
}
