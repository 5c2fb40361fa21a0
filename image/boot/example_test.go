package boot_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"

	"github.com/hardvm/hardvm/image/boot"
)

// A newc cpio archive as the kernel unpacks it for an initramfs.
func ExampleCPIOWriter() {
	var buf bytes.Buffer
	w := boot.NewCPIOWriter(&buf, 0)
	_ = w.WriteEntry(boot.CPIOEntry{Name: "dev", Mode: fs.ModeDir | 0o755}, nil)
	_ = w.WriteEntry(boot.CPIOEntry{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, RdevMajor: 5, RdevMinor: 1}, nil)
	_ = w.WriteEntry(boot.CPIOEntry{Name: "init", Mode: 0o755, Size: 10}, strings.NewReader("#!/bin/sh\n"))
	if err := w.Close(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(buf.Len()%4 == 0, bytes.HasPrefix(buf.Bytes(), []byte("070701")))
	// Output: true true
}

// The kernel command line of an image: console, the dm-verity root hash the
// init checks the root against, then the spec's extra arguments.
func ExampleCmdline() {
	rootHash := strings.Repeat("ab", 32)
	cl, err := boot.Cmdline(rootHash, boot.WithCmdline("quiet"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cl)
	_, err = boot.Cmdline(rootHash, boot.WithCmdline("fips=1"))
	fmt.Println(err)
	// Output:
	// console=ttyS0 roothash=abababababababababababababababababababababababababababababababab systemd.verity=no quiet
	// boot: kernel argument "fips=1" refused: FIPS is kernel-independent in hardvm
}
