package firstboot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/image/firstboot"
	"github.com/hardvm/hardvm/vm"
)

// What an image's configuration step installs for the qemu platform with
// the login user "ops", and the sshd setting that goes with it.
func ExampleFiles() {
	p, _ := vm.LookupPlatform(vm.QEMU)
	files, err := firstboot.Files(vm.X86_64, p, firstboot.WithUser("ops"))
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		fmt.Printf("%s %v\n", f.Path, f.Mode)
		for _, l := range strings.Split(string(f.Data), "\n") {
			if strings.HasPrefix(l, "ExecStart=") {
				fmt.Println(" ", l)
			}
		}
	}
	fmt.Println("enable", firstboot.UnitName)
	fmt.Println("sshd_config: AuthorizedKeysFile", firstboot.AuthorizedKeysFile)
	// Output:
	// usr/lib/hardvm/firstboot -rwxr-xr-x
	// usr/lib/systemd/system/hardvm-firstboot.service -rw-r--r--
	//   ExecStart=/usr/lib/hardvm/firstboot --source nocloud --user ops
	// enable hardvm-firstboot.service
	// sshd_config: AuthorizedKeysFile /var/lib/hardvm/ssh/%u/authorized_keys
}

// A NoCloud seed for `qemu-system-x86_64 ... -drive if=virtio,format=raw,file=seed.img`,
// read back as the agent reads it at boot.
func ExampleWriteNoCloudSeed() {
	dir, _ := os.MkdirTemp("", "seed")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "seed.img")
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdwR3aiO1H5FdHbV0znW2nucZmK+R8u1gpRiT04RLLL alice@example"
	err := firstboot.WriteNoCloudSeedFile(context.Background(), path, firstboot.Seed{Hostname: "web-1", AuthorizedKeys: []string{key}})
	if err != nil {
		panic(err)
	}
	s, err := firstboot.ReadNoCloudSeedFile(path, "ops")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Hostname, len(s.AuthorizedKeys), strings.Fields(s.AuthorizedKeys[0])[2])
	// Output: web-1 1 alice@example
}
