package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/internal/testtool"
	"github.com/hardvm/hardvm/vm"
)

func releaseLock(fam vm.RepositoryFamily, pkgs ...artifact.Package) *artifact.Lock {
	return &artifact.Lock{Family: fam, Packages: pkgs}
}

// A bare root file system (hardvm install) gets /etc/os-release naming its
// distribution, and syft, reading the tar as users do, finds it.
func TestWriteOSRelease(t *testing.T) {
	r, err := image.NewRootfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lock := releaseLock(vm.Wolfi, artifact.Package{Name: "wolfi-baselayout", Version: "20230201-r24"})
	wrote, err := image.WriteOSRelease(r, lock)
	if err != nil || !wrote {
		t.Fatalf("WriteOSRelease = %v, %v; want it written", wrote, err)
	}
	b, err := r.ReadFile("etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	want := "ID=wolfi\nNAME=\"Wolfi\"\nVERSION_ID=20230201\nPRETTY_NAME=\"Wolfi 20230201\"\n"
	if string(b) != want {
		t.Errorf("os-release:\n%s\nwant:\n%s", b, want)
	}
	fi, err := r.Stat("etc/os-release")
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}

	var tarball bytes.Buffer
	if err := r.WriteTar(context.Background(), &tarball); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(tarball.Bytes()))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "etc/os-release") {
		t.Fatalf("tar holds %v, no etc/os-release", names)
	}

	// The oracle: syft reading the tar.
	syft := testtool.Require(t, "syft")
	dir := t.TempDir()
	p := filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(p, tarball.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(syft, "scan", "file:"+p, "-o", "syft-json", "-q")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "SYFT_CHECK_FOR_APP_UPDATE=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft: %v\n%s", err, out)
	}
	var s struct {
		Distro struct {
			ID        string `json:"id"`
			VersionID string `json:"versionID"`
		} `json:"distro"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s.Distro.ID != "wolfi" || s.Distro.VersionID != "20230201" {
		t.Errorf("syft reads the tar's distribution as %+v, want wolfi 20230201", s.Distro)
	}
}

// A package's os-release (or its symlink) is left alone, and so is a tree
// of no known family.
func TestWriteOSReleaseKeepsThePackages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*image.Rootfs) error
	}{
		{"etc", func(r *image.Rootfs) error {
			r.MkdirAll("etc", 0o755, image.FileAttr{})
			return r.WriteFile("etc/os-release", strings.NewReader("ID=alpine\n"), 0o644, image.FileAttr{Package: "alpine-release"})
		}},
		{"usr/lib", func(r *image.Rootfs) error {
			r.MkdirAll("usr/lib", 0o755, image.FileAttr{})
			return r.WriteFile("usr/lib/os-release", strings.NewReader("ID=alpine\n"), 0o644, image.FileAttr{Package: "alpine-release"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := image.NewRootfs(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := tc.setup(r); err != nil {
				t.Fatal(err)
			}
			wrote, err := image.WriteOSRelease(r, releaseLock(vm.Alpine))
			if err != nil || wrote {
				t.Fatalf("WriteOSRelease = %v, %v; want the package's file kept", wrote, err)
			}
			if _, err := r.Lstat("etc/os-release"); tc.name == "usr/lib" && err == nil {
				t.Error("wrote etc/os-release beside usr/lib/os-release")
			}
		})
	}
	r, err := image.NewRootfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if wrote, err := image.WriteOSRelease(r, releaseLock("debian")); wrote || err != nil {
		t.Errorf("unknown family: %v, %v; want nothing written", wrote, err)
	}
	if _, err := r.Lstat("etc/os-release"); err == nil {
		t.Error("unknown family: etc/os-release written")
	}
}
