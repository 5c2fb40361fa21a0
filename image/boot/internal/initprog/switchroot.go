package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// switchRoot frees the initramfs, moves the kernel file systems under
// newRoot, makes newRoot the root (MS_MOVE + chroot) and executes init there.
func switchRoot(newRoot, init string) error {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(newRoot, init), &st); err != nil {
		return fmt.Errorf("the image has no init %s: %w", init, err)
	}
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return err
	}
	freeInitramfs("/", root.Dev)
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		target := filepath.Join(newRoot, d)
		if fi, err := os.Stat(target); err == nil && fi.IsDir() {
			if err := unix.Mount(d, target, "", unix.MS_MOVE, ""); err != nil {
				return fmt.Errorf("moving %s to %s: %w", d, target, err)
			}
		} else {
			_ = unix.Unmount(d, unix.MNT_DETACH)
		}
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	logf("switching to %s", init)
	return syscall.Exec(init, []string{init}, os.Environ())
}

// freeInitramfs removes the initramfs files (on device dev) under dir,
// leaving mount points alone.
func freeInitramfs(dir string, dev uint64) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if e.IsDir() {
			freeInitramfs(p, dev)
			_ = unix.Rmdir(p)
			continue
		}
		_ = unix.Unlink(p)
	}
}
