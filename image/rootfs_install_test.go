package image_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
)

// TestInstallAttacks builds a world of the base layout and one hostile
// package per case. Each must fail with the typed error naming the package
// and path, and leave nothing behind: no tree, an empty staging directory.
func TestInstallAttacks(t *testing.T) {
	base := basePackages()[0] // chainguard-baselayout: etc/, usr/bin, bin -> usr/bin…
	file := func(name string) apktest.File { return apktest.File{Name: name, Data: []byte("x")} }
	link := func(name, target string) apktest.File {
		return apktest.File{Name: name, Mode: fs.ModeSymlink, Link: target}
	}
	hard := func(name, target string) apktest.File { return apktest.File{Name: name, Hardlink: true, Link: target} }
	tests := []struct {
		name    string
		files   []apktest.File
		extra   []apktest.Package // more packages in the world
		opts    []image.BuildOption
		want    error
		badPath string
	}{
		{name: "dotdot traversal", files: []apktest.File{file("usr/../../etc/evil")}, want: image.ErrUnsafePath, badPath: "usr/../../etc/evil"},
		{name: "absolute name", files: []apktest.File{file("/etc/evil")}, want: image.ErrUnsafePath, badPath: "/etc/evil"},
		{name: "empty name", files: []apktest.File{file(".")}, want: image.ErrUnsafePath},
		{name: "control character", files: []apktest.File{file("etc/a\x1bb")}, want: image.ErrUnsafePath},
		{name: "over-long name", files: []apktest.File{file("etc/" + strings.Repeat("n", 300))}, want: image.ErrUnsafePath},
		{name: "file through escaping symlink", files: []apktest.File{link("usr/up", "../../.."), file("usr/up/etc/evil")},
			want: image.ErrEscape, badPath: "usr/up/etc/evil"},
		{name: "directory through escaping symlink", files: []apktest.File{link("esc", "/../x"), {Name: "esc/sub", Mode: fs.ModeDir | 0o755}},
			want: image.ErrEscape, badPath: "esc/sub"},
		{name: "hardlink outside", files: []apktest.File{hard("etc/h", "../../etc/shadow")}, want: image.ErrHardlink, badPath: "etc/h"},
		{name: "hardlink to another package's file", files: []apktest.File{hard("etc/h", "etc/passwd")}, want: image.ErrHardlink, badPath: "etc/h"},
		{name: "hardlink through escaping symlink", files: []apktest.File{link("usr/up", "../../.."), hard("etc/h", "usr/up/etc/shadow")},
			want: image.ErrHardlink, badPath: "etc/h"},
		{name: "file owned by two packages", files: []apktest.File{file("etc/os-release")}, want: image.ErrConflict, badPath: "etc/os-release"},
		{name: "file over a directory", files: []apktest.File{file("usr/bin")}, want: image.ErrConflict, badPath: "usr/bin"},
		{name: "over the size limit", files: []apktest.File{{Name: "etc/big", Size: 5000}},
			opts: []image.BuildOption{image.WithBuildRootfsOptions(image.WithMaxFileSize(4096))}, want: image.ErrTooLarge, badPath: "etc/big"},
		{name: "over the entry limit", files: []apktest.File{file("etc/a"), file("etc/b"), file("etc/c")},
			opts: []image.BuildOption{image.WithBuildRootfsOptions(image.WithMaxEntries(len(base.Files) + 3))}, want: image.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A good first entry: the package must not be half installed.
			evil := apktest.Package{Name: "evil", Version: "1-r0", Files: append([]apktest.File{file("etc/evil-first")}, tt.files...)}
			repo := writeRepo(t, t.TempDir(), 1, base, evil)
			spec := vm.Spec{Arch: vm.X86_64, SourceDateEpoch: 1700000000, Packages: []string{"chainguard-baselayout", "evil"},
				Repositories: []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}}}
			ctx := context.Background()
			lock, err := image.Resolve(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			staging := t.TempDir()
			root, err := image.Build(ctx, lock, append([]image.BuildOption{image.WithBuildStagingDir(staging)}, tt.opts...)...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var pe *image.PathError
			if !errors.As(err, &pe) || pe.Package != "evil" {
				t.Fatalf("err = %#v, want a *PathError naming package evil", err)
			}
			if tt.badPath != "" && pe.Path != tt.badPath {
				t.Errorf("PathError.Path = %q, want %q", pe.Path, tt.badPath)
			}
			if root != nil {
				t.Fatal("a failed build returned a tree")
			}
			if left, _ := os.ReadDir(staging); len(left) != 0 {
				t.Fatalf("staging directory keeps %d entries", len(left))
			}
		})
	}
}

// TestInstallAllOrNothing checks at the tree level that a package failing
// half way leaves the tree exactly as it was, and that replaces lets a
// package take over another's file.
func TestInstallAllOrNothing(t *testing.T) {
	base := basePackages()[0]
	good := apktest.Package{Name: "takeover", Version: "1-r0", Replaces: []string{"chainguard-baselayout"},
		Files: []apktest.File{{Name: "etc/os-release", Data: []byte("ID=takeover\n")}}}
	repo := writeRepo(t, t.TempDir(), 1, base, good)
	spec := vm.Spec{Arch: vm.X86_64, SourceDateEpoch: 1700000000, Packages: []string{"chainguard-baselayout", "takeover"},
		Repositories: []vm.Repository{{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}}}
	lock, err := image.Resolve(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	root, err := image.Build(context.Background(), lock, image.WithBuildStagingDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	b, _ := root.ReadFile("etc/os-release")
	fi, _ := root.Stat("etc/os-release")
	if string(b) != "ID=takeover\n" || fi.Sys().(*image.FileAttr).Package != "takeover" {
		t.Fatalf("os-release = %q owned by %+v", b, fi.Sys())
	}
}
