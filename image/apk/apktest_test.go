package apk_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/image/apk/apktest"
)

func writeRepo(t *testing.T, pkgs ...apktest.Package) (*apktest.Repository, *apk.Keyring) {
	t.Helper()
	repo := apktest.NewRepository(t.TempDir(), "x86_64", apktest.NewKey("hardvm-test", 1))
	repo.Add(pkgs...)
	if err := repo.Write(); err != nil {
		t.Fatal(err)
	}
	k, err := apk.LoadKeyring(repo.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	return repo, k
}

func TestGeneratedRepository(t *testing.T) {
	repo, k := writeRepo(t,
		apktest.Package{Name: "hello", Version: "1.0-r0", Depends: []string{"so:libc.so.6"}, License: "MIT",
			Files: []apktest.File{
				{Name: "usr", Mode: fs.ModeDir},
				{Name: "usr/bin", Mode: fs.ModeDir},
				{Name: "usr/bin/hello", Mode: 0o4755, Data: []byte("#!/bin/sh\necho hello\n"), Xattrs: map[string]string{"security.capability": "\x01"}},
				{Name: "usr/bin/hi", Hardlink: true, Link: "usr/bin/hello"},
				{Name: "usr/bin/hey", Mode: fs.ModeSymlink, Link: "hello"},
			},
			Scripts: map[string]string{".post-install": "#!/bin/sh\n"}},
		apktest.Package{Name: "glibc", Version: "2.41-r0", Provides: []string{"so:libc.so.6=6"}},
	)
	f, err := os.Open(filepath.Join(repo.Dir, "x86_64", "APKINDEX.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, err := apk.ReadIndex(f, k, "generated")
	if err != nil {
		t.Fatal(err)
	}
	if idx.Signer != "hardvm-test.rsa.pub" || len(idx.Packages) != 2 {
		t.Fatalf("index: signer %q, %d packages", idx.Signer, len(idx.Packages))
	}
	for _, p := range idx.Packages {
		b, err := os.ReadFile(filepath.Join(repo.Dir, "x86_64", p.Filename()))
		if err != nil {
			t.Fatal(err)
		}
		var entries []*tar.Header
		pf, err := apk.ReadPackage(bytes.NewReader(b), k, p.String(), func(h *tar.Header, r io.Reader) error {
			entries = append(entries, h)
			_, err := io.Copy(io.Discard, r)
			return err
		}, apk.WithExpected(p.Checksum, p.Size))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if pf.Signer != "hardvm-test.rsa.pub" || pf.Info.Checksum != p.Checksum {
			t.Errorf("%s: signer %q checksum %q", p, pf.Signer, pf.Info.Checksum)
		}
		if p.Name == "hello" {
			if len(entries) != 5 || entries[2].Mode&0o4000 == 0 || entries[2].PAXRecords["SCHILY.xattr.security.capability"] != "\x01" {
				t.Errorf("hello entries: %+v", entries)
			}
			if _, ok := pf.Scripts[".post-install"]; !ok {
				t.Errorf("scripts = %v", pf.Scripts)
			}
		}
		// Every single flipped byte in the package is caught.
		for _, off := range []int{10, len(b) / 2, len(b) - 3} {
			c := bytes.Clone(b)
			c[off] ^= 1
			if _, err := apk.ReadPackage(bytes.NewReader(c), k, p.String(), nil, apk.WithExpected(p.Checksum, p.Size)); err == nil {
				t.Errorf("%s: flipped byte %d accepted", p, off)
			}
		}
	}
}

func TestGeneratedRepositoryReproducible(t *testing.T) {
	pkg := apktest.Package{Name: "a", Version: "1-r0", Files: []apktest.File{{Name: "f", Size: 100000}}}
	r1, _ := writeRepo(t, pkg)
	r2, _ := writeRepo(t, pkg)
	for _, name := range []string{"x86_64/APKINDEX.tar.gz", "x86_64/a-1-r0.apk", "hardvm-test.rsa.pub"} {
		a, _ := os.ReadFile(filepath.Join(r1.Dir, name))
		b, _ := os.ReadFile(filepath.Join(r2.Dir, name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two writes", name)
		}
	}
}

func TestGeneratedHostilePackages(t *testing.T) {
	repo, k := writeRepo(t,
		apktest.Package{Name: "unsigned", Version: "1-r0", Unsigned: true},
		apktest.Package{Name: "nodatahash", Version: "1-r0", NoDataHash: true},
	)
	read := func(name string) error {
		f, err := os.Open(filepath.Join(repo.Dir, "x86_64", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, err = apk.ReadPackage(f, k, name, nil)
		return err
	}
	if err := read("unsigned-1-r0.apk"); !errors.Is(err, apk.ErrUnsigned) {
		t.Errorf("unsigned: %v", err)
	}
	if err := read("nodatahash-1-r0.apk"); !errors.Is(err, apk.ErrVerify) {
		t.Errorf("no datahash: %v", err)
	}
}

// TestGeneratedPackageFromDisk: a file's content can come from a file on
// disk (File.Path), streamed; the package says the same as with Data.
func TestGeneratedPackageFromDisk(t *testing.T) {
	content := bytes.Repeat([]byte("hardvm streams this from disk\n"), 5000)
	src := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	files := func(f apktest.File) []apktest.File {
		return []apktest.File{{Name: "usr", Mode: fs.ModeDir}, f}
	}
	a, _ := writeRepo(t, apktest.Package{Name: "disk", Version: "1.0-r0", Files: files(apktest.File{Name: "usr/blob", Mode: 0o644, Path: src})})
	b, _ := writeRepo(t, apktest.Package{Name: "disk", Version: "1.0-r0", Files: files(apktest.File{Name: "usr/blob", Mode: 0o644, Data: content})})
	pa, err := os.ReadFile(filepath.Join(a.Dir, "x86_64", "disk-1.0-r0.apk"))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := os.ReadFile(filepath.Join(b.Dir, "x86_64", "disk-1.0-r0.apk"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pa, pb) {
		t.Error("a package from a file on disk differs from the same content given as Data")
	}
	missing := apktest.NewRepository(t.TempDir(), "x86_64", apktest.NewKey("hardvm-test", 1))
	missing.Add(apktest.Package{Name: "gone", Version: "1.0-r0", Files: []apktest.File{{Name: "x", Path: filepath.Join(t.TempDir(), "nope")}}})
	if err := missing.Write(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing Path: %v", err)
	}
}
