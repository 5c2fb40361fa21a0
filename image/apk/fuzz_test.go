package apk

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

// FuzzIndexRoundTrip: whatever ParseIndex accepts, WriteIndex writes in a
// form ParseIndex reads back to the same packages.
func FuzzIndexRoundTrip(f *testing.F) {
	f.Add([]byte("C:Q1abc=\nP:a\nV:1.0-r0\nS:1\nI:2\nD:b c>=1\np:so:x.so=1\n\nP:b\nV:2\nX:unknown\n"))
	f.Add([]byte("P:a\nV:1\nt:12\nk:3\nr:x y\nq:1\n"))
	f.Add([]byte("P:\nV:\n"))
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
		_, _ = ReadPackage(bytes.NewReader(data), NewKeyring(), "fuzz", func(h *tar.Header, r io.Reader) error {
			_, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
			return err
		}, WithUnsignedPackageUnsafe(), WithMaxPackageSize(1<<20))
		_, _ = ReadIndex(bytes.NewReader(data), NewKeyring(), "fuzz", WithUnsignedIndexUnsafe(), WithMaxIndexSize(1<<20))
	})
}

// FuzzVersions: comparison is antisymmetric and valid versions equal
// themselves.
func FuzzVersions(f *testing.F) {
	f.Add("1.0", "1.0-r1")
	f.Add("1.2_alpha3_p4~abc-r9", "1.2")
	f.Add("0.99f7-r0", "0.99.7")
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := apkversion.Compare(a, b), apkversion.Compare(b, a)
		if ab != -ba {
			t.Fatalf("apkversion.Compare(%q,%q)=%d but reverse=%d", a, b, ab, ba)
		}
		if apkversion.Valid(a) && apkversion.Compare(a, a) != 0 {
			t.Fatalf("%q != itself", a)
		}
		if d, err := ParseDependency(a); err == nil {
			if d2, err := ParseDependency(d.String()); err != nil || d2 != d {
				t.Fatalf("dependency %q: round trip %q gives %+v, %v", a, d.String(), d2, err)
			}
		}
	})
}
