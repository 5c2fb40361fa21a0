package hardvmtest

import (
	"context"
	"io/fs"
	"testing"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/vm"
)

// Every variant's world resolves and installs from the demo repository.
func TestEveryVariantBuilds(t *testing.T) {
	repo, err := WriteDemoRepository(t.TempDir(), vm.X86_64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vm.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			spec := vm.Spec{Variant: v.Name, Platform: v.Platforms[0], Arch: vm.X86_64, SourceDateEpoch: 1763856000,
				Repositories: []vm.Repository{repo}}
			lock, err := image.Resolve(context.Background(), spec, image.WithResolveCacheDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			root, err := image.Build(context.Background(), lock, image.WithBuildCacheDir(t.TempDir()), image.WithBuildStagingDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			for _, u := range v.Units {
				if _, err := fs.Stat(root, "etc/systemd/system/multi-user.target.wants/"+u); err != nil {
					t.Errorf("unit %s not enabled: %v", u, err)
				}
			}
		})
	}
}
