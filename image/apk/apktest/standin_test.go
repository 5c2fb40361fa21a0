package apktest_test

import (
	"context"
	"testing"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
)

// TestStandIns builds every variant from stand-ins: resolution, install
// and configuration (units enabled) all succeed offline.
func TestStandIns(t *testing.T) {
	for _, v := range vm.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			spec := vm.Spec{Variant: v.Name, Platform: vm.QEMU, Arch: vm.X86_64, SourceDateEpoch: 1700000000}
			repo := apktest.NewRepository(t.TempDir(), "x86_64", apktest.NewKey("standin", 1))
			repo.Add(apktest.StandIns(v, spec.KernelTrack().Package())...)
			if err := repo.Write(); err != nil {
				t.Fatal(err)
			}
			spec.Repositories = []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Chainguard}}
			lock, err := image.Resolve(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			root, err := image.Build(context.Background(), lock, image.WithBuildStagingDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			for _, u := range append(v.Units, "sshd.service") {
				if _, err := root.ReadLink("etc/systemd/system/multi-user.target.wants/" + u); err != nil {
					t.Errorf("%s not enabled: %v", u, err)
				}
			}
		})
	}
}
