package boot_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hardvm/hardvm/image/boot"
	"github.com/hardvm/hardvm/image/boot/boottest"
	"github.com/hardvm/hardvm/internal/testtool"
)

// kernelVersionFromDeb reads the version from the package name
// linux-image-<version>_<debian version>_amd64.deb.
func kernelVersionFromDeb(t *testing.T) string {
	base := filepath.Base(boottest.Deb(t, "linux-image-"))
	return strings.TrimPrefix(strings.SplitN(base, "_", 2)[0], "linux-image-")
}

func TestKernelVersionDebian(t *testing.T) {
	root := os.DirFS(boottest.KernelTree(t))
	v, err := boot.KernelVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := kernelVersionFromDeb(t); v != want {
		t.Fatalf("KernelVersion = %q, the package says %q", v, want)
	}
	k, err := boot.FindKernel(root, "")
	if err != nil || k.Image != "boot/vmlinuz-"+v {
		t.Fatalf("FindKernel = %+v, %v", k, err)
	}
	if _, err := boot.KernelVersion(fstest.MapFS{"etc/os-release": {Data: []byte("ID=x\n")}}); !errors.Is(err, boot.ErrKernel) {
		t.Fatalf("no kernel: err = %v", err)
	}
	two := fstest.MapFS{
		"lib/modules/6.1.0-1-amd64/kernel/a.ko": {}, "lib/modules/6.6.0-2-amd64/kernel/a.ko": {},
		"boot/vmlinuz-6.1.0-1-amd64": {}, "boot/vmlinuz-6.6.0-2-amd64": {},
	}
	if _, err := boot.KernelVersion(two); !errors.Is(err, boot.ErrKernel) || !strings.Contains(err.Error(), "6.6.0-2-amd64") {
		t.Fatalf("two kernels: err = %v", err)
	}
	if k, err := boot.FindKernel(two, "6.6.0-2-amd64"); err != nil || k.Image != "boot/vmlinuz-6.6.0-2-amd64" {
		t.Fatalf("chosen kernel: %+v, %v", k, err)
	}
}

func TestInitramfsDebianKernel(t *testing.T) {
	testtool.Require(t, "cpio")
	root := os.DirFS(boottest.KernelTree(t))
	var a, b bytes.Buffer
	info, err := boot.WriteInitramfs(context.Background(), &a, root, boot.WithSourceDateEpoch(1700000000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boot.WriteInitramfs(context.Background(), &b, root, boot.WithSourceDateEpoch(1700000000)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("initramfs not deterministic")
	}
	t.Logf("initramfs: %d bytes, %d modules: %v", info.Size, len(info.Modules), info.Modules)
	cmd := exec.Command("cpio", "-t")
	cmd.Stdin = bytes.NewReader(a.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	listing := string(out)
	index := func(name string) int {
		for i, m := range info.Modules {
			if strings.HasSuffix(m, "/"+name) {
				return i
			}
		}
		t.Errorf("module %s not in the load list %v", name, info.Modules)
		return -1
	}
	for _, m := range []string{"dm-mod.ko", "dm-bufio.ko", "dm-verity.ko", "erofs.ko", "virtio_blk.ko", "virtio_pci.ko", "nvme.ko", "nvme-core.ko", "virtio.ko", "virtio_ring.ko"} {
		index(m)
		if !strings.Contains(listing, "/"+m+"\n") {
			t.Errorf("cpio -t does not list %s", m)
		}
	}
	for _, dep := range [][2]string{{"dm-mod.ko", "dm-verity.ko"}, {"dm-bufio.ko", "dm-verity.ko"}, {"virtio.ko", "virtio_blk.ko"}, {"nvme-core.ko", "nvme.ko"}} {
		if index(dep[0]) > index(dep[1]) {
			t.Errorf("%s loads after %s, which depends on it", dep[0], dep[1])
		}
	}
	for _, f := range []string{"init\n", "dev/console\n", "etc/hardvm/modules\n", "sysroot\n"} {
		if !strings.Contains(listing, f) {
			t.Errorf("cpio -t lacks %q", f)
		}
	}
	if _, err := boot.WriteInitramfs(context.Background(), &bytes.Buffer{}, root, boot.WithModules("no_such_module")); !errors.Is(err, boot.ErrModule) {
		t.Errorf("missing module: err = %v", err)
	}
}

// The whole boot step is reproducible: the same rootfs, root hash and
// options give the same ESP bytes; another root hash gives another UKI.
func TestESPDeterministic(t *testing.T) {
	root := os.DirFS(boottest.KernelTree(t))
	hash := strings.Repeat("5a", 32)
	opts := []boot.Option{boot.WithStub(boottest.Stub(t)), boot.WithOSRelease([]byte("ID=hardvm\n")), boot.WithSourceDateEpoch(1700000000)}
	a, err := boot.ESP(context.Background(), root, hash, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := boot.ESP(context.Background(), root, hash, opts...)
	if err != nil {
		t.Fatal(err)
	}
	uki, ok := a["EFI/BOOT/BOOTX64.EFI"]
	if !ok || len(a) != 1 {
		t.Fatalf("ESP files %v", len(a))
	}
	if !bytes.Equal(uki, b["EFI/BOOT/BOOTX64.EFI"]) {
		t.Fatal("same inputs gave different UKIs")
	}
	if !bytes.Contains(uki, []byte("roothash="+hash)) {
		t.Error("the UKI does not carry the root hash on its command line")
	}
	c, err := boot.ESP(context.Background(), root, strings.Repeat("a5", 32), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(uki, c["EFI/BOOT/BOOTX64.EFI"]) {
		t.Error("another root hash gave the same UKI")
	}
	if _, err := boot.ESP(context.Background(), root, "not-hex", opts...); !errors.Is(err, boot.ErrRootHash) {
		t.Errorf("bad root hash: err = %v", err)
	}
}
