package bootdisk_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image/bootdisk"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/testtool"
)

// TestOpenVDisk opens the real disk written as a compressed qcow2, a
// streamOptimized VMDK and an OVA through vdisk's in-place readers, and
// wants the raw disk's root hash and packages: every root block read
// through the reader was checked against that root hash.
func TestOpenVDisk(t *testing.T) {
	testtool.Require(t, "veritysetup", "fsck.erofs")
	b := buildDisk(t)
	raw, err := openCopy(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := raw.Packages()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []vdisk.Writer{vdisk.QCOW2{Compress: true}, vdisk.VMDK{}, vdisk.OVA{}} {
		t.Run(string(w.Format()), func(t *testing.T) {
			src, err := vdisk.OpenFile(b.path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			f, err := os.Create(filepath.Join(t.TempDir(), "disk"+w.Format().Ext()))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := w.WriteDisk(context.Background(), f, src); err != nil {
				t.Fatal(err)
			}
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			r, err := vdisk.Open(f, fi.Size())
			if err != nil {
				t.Fatal(err)
			}
			d, err := bootdisk.Open(context.Background(), r, r.Size())
			if err != nil {
				t.Fatal(err)
			}
			if d.RootHash.String() != b.disk.RootHash || d.RootHashFrom != bootdisk.RootHashFromUKI {
				t.Errorf("root hash %s from %s, want %s from the UKI", d.RootHash, d.RootHashFrom, b.disk.RootHash)
			}
			got, err := d.Packages()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, func(a, b artifact.Package) bool {
				return a.Name == b.Name && a.Version == b.Version && a.Arch == b.Arch && a.Checksum == b.Checksum
			}) || len(got) == 0 {
				t.Errorf("packages through the %s reader differ from the raw disk's", w.Format())
			}
		})
	}
}
