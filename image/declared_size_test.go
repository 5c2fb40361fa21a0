package image_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
)

func declaredSizeLock(t *testing.T, pkg apktest.Package) *artifact.Lock {
	t.Helper()
	repo := writeRepo(t, t.TempDir(), 1, basePackages()[0], pkg)
	spec := vm.Spec{Arch: vm.X86_64, SourceDateEpoch: 1700000000, Packages: []string{"chainguard-baselayout", pkg.Name},
		Repositories: []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}}}
	lock, err := image.Resolve(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return lock
}

// TestBuildBoundsFilesByDeclaredSize: a signed package whose index (I:) and
// .PKGINFO (size) say 4096 bytes but whose files hold 1 MiB is refused at
// the entry that crosses 4096, before its content is staged. On the main of
// issue 17 it installed, and the lock recorded 4096 (watched it fail: no
// error).
func TestBuildBoundsFilesByDeclaredSize(t *testing.T) {
	lock := declaredSizeLock(t, apktest.Package{Name: "liar", Version: "1-r0", InstalledSize: 4096,
		Files: []apktest.File{{Name: "etc/small", Data: []byte("fits")}, {Name: "etc/big", Size: 1 << 20}}})
	for _, p := range lock.Packages {
		if p.Name == "liar" && p.InstalledSize != 4096 {
			t.Fatalf("index I: = %d, want the lie, 4096", p.InstalledSize)
		}
	}
	staging := t.TempDir()
	root, err := image.Build(context.Background(), lock, image.WithBuildStagingDir(staging))
	if !errors.Is(err, apk.ErrSize) {
		t.Fatalf("err = %v, want apk.ErrSize", err)
	}
	if root != nil {
		t.Fatal("a failed build returned a tree")
	}
}

// TestBuildLockRecordsInstalledBytes: the lock records the bytes a package
// really installed, not what its index claimed (here more than it holds).
// On the main of issue 17 the lock kept the claim (watched it fail).
func TestBuildLockRecordsInstalledBytes(t *testing.T) {
	lock := declaredSizeLock(t, apktest.Package{Name: "roomy", Version: "1-r0", InstalledSize: 1 << 20,
		Files: []apktest.File{{Name: "etc/a", Data: []byte("12345")}, {Name: "etc/b", Size: 1000}}})
	root, err := image.Build(context.Background(), lock, image.WithBuildStagingDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, p := range lock.Packages {
		if p.Name == "roomy" && p.InstalledSize != 1005 {
			t.Errorf("lock records installed size %d, want the 1005 bytes installed", p.InstalledSize)
		}
	}
}
