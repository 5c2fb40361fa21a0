package apk

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzIndexRoundTrip: whatever ParseIndex accepts, WriteIndex writes in a
// form ParseIndex reads back to the same packages.
func FuzzIndexRoundTrip(f *testing.F) {
	f.Add([]byte("C:Q1abc=\nP:a\nV:1.0-r0\nS:1\nI:2\nD:b c>=1\np:so:x.so=1\n\nP:b\nV:2\nX:unknown\n"))
	f.Add([]byte("P:a\nV:1\nt:12\nk:3\nr:x y\nq:1\n"))
	f.Add([]byte("P:\nV:\n"))
	f.Add([]byte("P:0\nV:\r\r")) // a version of one \r, which the scanner would eat on the way back
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseIndex(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteIndex(&out, pkgs); err != nil {
			t.Fatal(err)
		}
		again, err := ParseIndex(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("reparse: %v\n%q", err, out.Bytes())
		}
		if len(pkgs) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(pkgs, again) {
			t.Fatalf("round trip differs:\n%q\n%q", data, out.Bytes())
		}
	})
}

// FuzzReadPackage: hostile package files never panic, and a package that
// verifies without a signature still had its datahash checked.
func FuzzReadPackage(f *testing.F) {
	for _, p := range []string{"misc/replaces-0.0.1-r0.apk", "wolfi/hello-2.12-r0.apk"} {
		b, err := os.ReadFile(filepath.Join(realData, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var handed int64
		pf, err := ReadPackage(bytes.NewReader(data), NewKeyring(), "fuzz", func(h *tar.Header, r io.Reader) error {
			n, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
			handed += n
			return err
		}, WithUnsignedPackageUnsafe(), WithMaxPackageSize(1<<20))
		if err == nil && (pf.Content > pf.Info.InstalledSize || handed > pf.Info.InstalledSize) {
			t.Fatalf("files of %d bytes (%d handed on) in a package declaring %d", pf.Content, handed, pf.Info.InstalledSize)
		}
		_, _ = ReadIndex(bytes.NewReader(data), NewKeyring(), "fuzz", WithUnsignedIndexUnsafe(), WithMaxIndexSize(1<<20))
	})
}

// FuzzParseDependency: whatever ParseDependency accepts prints as a
// dependency it reads back the same.
func FuzzParseDependency(f *testing.F) {
	for _, s := range []string{"busybox", "!openssl-fips", "zlib>=1.2.13", "python-3.13~3.13", "nginx@edge=1.27.0-r1", "so:libc.so.6", "libfoo><Q1abc=", "a<>=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDependency(s)
		if err != nil {
			return
		}
		if d2, err := ParseDependency(d.String()); err != nil || d2 != d {
			t.Fatalf("dependency %q: round trip %q gives %+v, %v", s, d.String(), d2, err)
		}
	})
}

// FuzzInstalledRoundTrip: the installed database is read from images
// (fips.Check, scanners). Whatever ParseInstalled accepts keeps every
// package's name and version through WriteInstalled, and writing what
// that reads back gives the same bytes (the writer groups files under
// their directories, so the first write may merge repeated ones).
func FuzzInstalledRoundTrip(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(realData, "installed-db", "wolfi-base"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("P:a\nV:1\nF:usr\nM:0:0:0755\nR:x\na:1:2:4755\nZ:Q1abc=\n\nP:b\nV:2\n"))
	f.Add([]byte("P:a\nV:1\nP:b\nV:2\n"))
	f.Add([]byte("P:a\nV:1\nR:x\nM:0:0:1\n"))
	f.Add([]byte("P:0\nV:0\nF:\nF:"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseInstalled(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", *p.Package)
			}
		}
		var first, second bytes.Buffer
		if err := WriteInstalled(&first, pkgs); err != nil {
			t.Fatal(err)
		}
		again, err := ParseInstalled(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("reparse: %v\n%q", err, first.Bytes())
		}
		if len(again) != len(pkgs) {
			t.Fatalf("%d packages, %d after a round trip:\n%q\n%q", len(pkgs), len(again), data, first.Bytes())
		}
		for i := range pkgs {
			if pkgs[i].Name != again[i].Name || pkgs[i].Version != again[i].Version {
				t.Fatalf("package %d is %s-%s, %s-%s after a round trip", i, pkgs[i].Name, pkgs[i].Version, again[i].Name, again[i].Version)
			}
		}
		if err := WriteInstalled(&second, again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("writing what was read back differs:\n%q\n%q", first.Bytes(), second.Bytes())
		}
	})
}

// FuzzReadIndexSigned: a hostile index never panics; one that reads came
// with a signature by the trusted key, and reads the same whether it can
// be read twice (a file) or only once (an HTTP body); one that does not
// fails with a verification or format error.
func FuzzReadIndexSigned(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(realData, "rsa256-signed/APKINDEX.tar.gz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	k := keyring(f, "rsa256-signed/keys/test-rsa256.rsa.pub")
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, sum, err := readIndex(bytes.NewReader(data), k, "fuzz", WithMaxIndexSize(1<<20))
		idx2, sum2, err2 := readIndex(io.MultiReader(bytes.NewReader(data)), k, "fuzz", WithMaxIndexSize(1<<20))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("seekable: %v, stream: %v", err, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrVerify) && !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is neither ErrVerify nor ErrFormat", err)
			}
			return
		}
		if idx.Signer != "test-rsa256.rsa.pub" || idx2.Signer != idx.Signer || !bytes.Equal(sum, sum2) || len(idx.Packages) != len(idx2.Packages) {
			t.Fatalf("read without the trusted signature, or differently: %q %q", idx.Signer, idx2.Signer)
		}
	})
}
