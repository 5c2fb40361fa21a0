package boot_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

// modName normalises a module file name: dm-verity.ko.xz is dm_verity.
func modName(p string) string {
	b := path.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// The initramfs of each platform's image, from Debian's real kernel:
// every driver of the platform's table is in it with every module it
// depends on (checked with kmod's own modinfo, not hardvm's reader), in
// an order that loads dependencies first (cpio -t lists the archive), and
// no other platform's controller or NIC driver is.
func TestInitramfsPerPlatform(t *testing.T) {
	testtool.Require(t, "cpio", "modinfo")
	tree := boottest.KernelTree(t)
	root := os.DirFS(tree)
	builtin, err := os.ReadFile(filepath.Join(tree, "lib", "modules", kernelVersionFromDeb(t), "modules.builtin"))
	if err != nil {
		t.Fatal(err)
	}
	isBuiltin := map[string]bool{}
	for _, l := range strings.Fields(string(builtin)) {
		isBuiltin[modName(l)] = true
	}
	all := map[string]vm.Cloud{} // every platform's drivers
	for _, p := range vm.Platforms() {
		for _, d := range p.Drivers() {
			all[d] = p.Cloud
		}
	}
	for _, p := range vm.Platforms() {
		t.Run(string(p.Cloud), func(t *testing.T) {
			var buf bytes.Buffer
			info, err := boot.WriteInitramfs(context.Background(), &buf, root, boot.WithPlatform(p))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("cpio", "-t")
			cmd.Stdin = bytes.NewReader(buf.Bytes())
			listing, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("cpio -t: %v\n%s", err, listing)
			}
			pos := map[string]int{}
			for i, m := range info.Modules {
				pos[modName(m)] = i
				if !strings.Contains(string(listing), m+"\n") {
					t.Errorf("cpio -t does not list %s", m)
				}
			}
			for _, want := range boot.PlatformModules(p) {
				if _, ok := pos[want]; !ok && !isBuiltin[want] {
					t.Errorf("%s's driver %s is not in its initramfs %v", p.Cloud, want, info.Modules)
				}
			}
			for d, owner := range all {
				if _, ok := pos[d]; ok && !slices.Contains(p.Drivers(), d) {
					t.Errorf("%s's initramfs carries %s, a driver of %s only", p.Cloud, d, owner)
				}
			}
			for _, m := range info.Modules {
				out, err := exec.Command("modinfo", "-F", "depends", filepath.Join(tree, m)).Output()
				if err != nil {
					t.Fatalf("modinfo %s: %v", m, err)
				}
				for _, dep := range strings.Split(strings.TrimSpace(string(out)), ",") {
					if dep == "" || isBuiltin[modName(dep)] {
						continue
					}
					if i, ok := pos[modName(dep)]; !ok || i > pos[modName(m)] {
						t.Errorf("%s depends on %s, which the initramfs does not load before it", modName(m), dep)
					}
				}
			}
			t.Logf("%s: %d modules, %d bytes", p.Cloud, len(info.Modules), info.Size)
		})
	}
	var buf bytes.Buffer
	info, err := boot.WriteInitramfs(context.Background(), &buf, root, boot.WithPlatform(vm.Platforms()[0], "vmw_pvscsi"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(info.Modules, func(m string) bool { return modName(m) == "vmw_pvscsi" }) {
		t.Errorf("a spec's extra driver is not in the initramfs: %v", info.Modules)
	}
}

// The console of the kernel command line follows the architecture and the
// platform: ttyS0 on a PC, ttyAMA0 on QEMU's aarch64 virt machine, ttyS0
// on Graviton.
func TestCmdlineConsole(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	aws, _ := vm.LookupPlatform(vm.AWS)
	qemu, _ := vm.LookupPlatform(vm.QEMU)
	for _, c := range []struct {
		opts []boot.Option
		want string
	}{
		{nil, "console=ttyS0 "},
		{[]boot.Option{boot.WithArch(vm.Aarch64)}, "console=ttyAMA0 "},
		{[]boot.Option{boot.WithPlatform(qemu), boot.WithArch(vm.Aarch64)}, "console=ttyAMA0 "},
		{[]boot.Option{boot.WithArch(vm.Aarch64), boot.WithPlatform(aws)}, "console=ttyS0 "},
		{[]boot.Option{boot.WithArch(vm.Aarch64), boot.WithConsole("console=tty0"), boot.WithPlatform(aws)}, "console=ttyS0 "},
		{[]boot.Option{boot.WithPlatform(aws), boot.WithConsole("console=tty0")}, "console=tty0 "},
	} {
		got, err := boot.Cmdline(hash, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("cmdline %q, want it to start with %q", got, c.want)
		}
	}
	if _, err := boot.Cmdline(hash, boot.WithPlatform(vm.Platform{Cloud: "none"})); err == nil {
		t.Error("a platform without drivers accepted")
	}
}

// With a platform, an aarch64 initramfs also loads the SHA-256
// instructions' module when the kernel has one (dm-verity then hashes
// with it), and does without when it has none; x86_64's does not.
func TestInitramfsHashModules(t *testing.T) {
	qemu, _ := vm.LookupPlatform(vm.QEMU)
	tree := func(withCE bool) fstest.MapFS {
		fs := fstest.MapFS{"boot/vmlinuz-6.1.0-1-arm64": {Data: []byte("MZ")}}
		dep := ""
		for _, m := range append(boot.PlatformModules(qemu), "sha256_arm64") {
			p := "kernel/" + m + ".ko"
			fs["lib/modules/6.1.0-1-arm64/"+p] = &fstest.MapFile{Data: []byte("ko")}
			dep += p + ":\n"
		}
		if withCE {
			fs["lib/modules/6.1.0-1-arm64/kernel/sha2-ce.ko"] = &fstest.MapFile{Data: []byte("ko")}
			dep += "kernel/sha2-ce.ko: kernel/sha256_arm64.ko\n"
		}
		fs["lib/modules/6.1.0-1-arm64/modules.dep"] = &fstest.MapFile{Data: []byte(dep)}
		return fs
	}
	has := func(info boot.InitramfsInfo, name string) bool {
		return slices.ContainsFunc(info.Modules, func(m string) bool { return modName(m) == name })
	}
	for _, c := range []struct {
		arch   vm.Arch
		withCE bool
		want   bool
	}{{vm.Aarch64, true, true}, {vm.Aarch64, false, false}, {vm.X86_64, true, false}} {
		info, err := boot.WriteInitramfs(context.Background(), &bytes.Buffer{}, tree(c.withCE), boot.WithArch(c.arch), boot.WithPlatform(qemu))
		if err != nil {
			t.Fatalf("%s (sha2-ce %v): %v", c.arch, c.withCE, err)
		}
		if has(info, "sha2_ce") != c.want || has(info, "sha256_arm64") != c.want {
			t.Errorf("%s (sha2-ce in the kernel: %v): modules %v", c.arch, c.withCE, info.Modules)
		}
	}
}
