// Command initprog is hardvm's initramfs init (/init). The kernel runs it
// first; it loads the kernel modules listed in /etc/hardvm/modules, finds the
// root and root-verity partitions, opens the root through dm-verity with the
// root hash from the (signed) kernel command line, mounts the erofs root
// read-only and switches to the image's init.
//
// A root that fails verification halts the machine with a clear message on
// the console. There is no fallback: the unverified device is never mounted.
//
// Kernel command line:
//
//	roothash=HEX           dm-verity root hash (required)
//	hardvm.verity=K=V,...  data=PARTUUID, hash=PARTUUID: the partitions
//	                       (default: the DPS verity convention, UUIDs from
//	                       the root hash, else the DPS root type GUIDs);
//	                       check=full|lazy: read the whole root once before
//	                       mounting it (default full)
//	init=PATH              the image's init (default /sbin/init)
//
// It is built reproducibly by `go generate ./image/boot` and embedded in
// package boot; see ../../generate.go.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const (
	newRoot    = "/sysroot"
	dmName     = "root"
	deviceWait = 60 * time.Second
)

func main() {
	if err := setup(); err != nil {
		fatal(err)
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fatal(fmt.Errorf("reading /proc/cmdline: %w", err))
	}
	cfg, err := parseCmdline(string(cmdline))
	if err != nil {
		fatal(err)
	}
	loadModules("/etc/hardvm/modules")
	data, hash, err := findPartitions(cfg, deviceWait)
	if err != nil {
		fatal(err)
	}
	logf("root %s, verity %s, root hash %s", data, hash, cfg.rootHash)
	sb, err := readSuperblock(hash)
	if err != nil {
		fatal(err)
	}
	dev, err := createVerity(dmName, data, hash, sb, cfg.rootHash)
	if err != nil {
		fatal(err)
	}
	if cfg.fullCheck {
		start := time.Now()
		n, err := readAll(dev)
		if err != nil {
			verityFailure(cfg, err)
		}
		logf("root verified: %d bytes in %v", n, time.Since(start).Round(time.Millisecond))
	} else {
		logf("root not read ahead (check=lazy): each block is verified when first read")
	}
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		fatal(err)
	}
	if err := unix.Mount(dev, newRoot, "erofs", unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.EUCLEAN) || errors.Is(err, unix.EINVAL) {
			verityFailure(cfg, fmt.Errorf("mounting the erofs root: %w", err))
		}
		fatal(fmt.Errorf("mounting %s on %s: %w", dev, newRoot, err))
	}
	if err := switchRoot(newRoot, cfg.init); err != nil {
		fatal(err)
	}
}

// setup mounts the kernel file systems and makes sure the console is open.
func setup() error {
	for _, m := range []struct{ dir, fstype string }{
		{"/dev", "devtmpfs"}, {"/proc", "proc"}, {"/sys", "sysfs"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err != nil {
		if fd, err := unix.Open("/dev/console", unix.O_RDWR, 0); err == nil {
			for i := 0; i < 3; i++ {
				_ = unix.Dup2(fd, i)
			}
		}
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "hardvm-init: "+format+"\n", args...)
}

// verityFailure reports a root that does not match its root hash and halts.
func verityFailure(cfg config, err error) {
	fmt.Fprintf(os.Stdout, "\nhardvm-init: VERITY FAILURE: the root file system does not match root hash %s: %v\n"+
		"hardvm-init: refusing to boot a tampered or corrupted image; the machine is halted.\n", cfg.rootHash, err)
	halt()
}

// fatal reports any other failure to boot and halts.
func fatal(err error) {
	fmt.Fprintf(os.Stdout, "\nhardvm-init: FATAL: %v\nhardvm-init: cannot boot; the machine is halted.\n", err)
	halt()
}

func halt() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_HALT)
	for {
		time.Sleep(time.Hour)
	}
}
