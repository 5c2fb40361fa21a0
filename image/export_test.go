package image_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/image/vdisk/vdisktest"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
)

func fileDigest(t *testing.T, path string) (string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n
}

func TestExport(t *testing.T) {
	src := t.TempDir()
	d := vdisktest.MakeDisk(t, src, 7*(1<<20)+512)
	disk := &image.Disk{Path: d.Path, Size: d.Size, RootHash: "0f1e"}
	for _, w := range []vdisk.Writer{
		vdisk.Raw{}, vdisk.QCOW2{}, vdisk.QCOW2{Compress: true}, vdisk.VHD{}, vdisk.VMDK{}, vdisk.GCE{}, vdisk.OVA{},
	} {
		t.Run(fmt.Sprintf("%s%+v", w.Format(), w), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out"+w.Format().Ext())
			ref := vm.Ref{}
			a, err := image.Export(context.Background(), disk, w, path, image.ExportRef(ref))
			if err != nil {
				t.Fatal(err)
			}
			want, size := fileDigest(t, path)
			if string(a.Digest) != want || a.Size != size {
				t.Errorf("artifact digest %s size %d, file has %s %d", a.Digest, a.Size, want, size)
			}
			if a.Format != w.Format() || a.Path != path || a.RootHash != "0f1e" || a.VirtualSize != vdisk.VirtualSize(w, d.Size) {
				t.Errorf("artifact %+v", a)
			}
			vdisktest.Check(t, w.Format(), d.Path, path, a.VirtualSize)
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("export left %d files in its directory, want 1", len(ents))
			}
		})
	}
}

// An export killed before it finished left its temporary: the next export
// of the same path takes it back, whoever calls Export (not only the CLI).
func TestExportReclaimsKilledExport(t *testing.T) {
	d := vdisktest.MakeDisk(t, t.TempDir(), 4<<20)
	dir := t.TempDir()
	path := filepath.Join(dir, "out.qcow2")
	// What a SIGKILL leaves: a temporary of path that no process holds.
	dead := filepath.Join(dir, ".out.qcow2.tmp-1234.partial")
	if err := os.WriteFile(dead, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := image.Export(context.Background(), &image.Disk{Path: d.Path, Size: d.Size}, vdisk.QCOW2{}, path); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "out.qcow2" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("export left %v, want [out.qcow2]", names)
	}
}

// An export cancelled half way leaves neither the file nor a temporary.
func TestExportCancelled(t *testing.T) {
	d := vdisktest.MakeDisk(t, t.TempDir(), 8<<20)
	disk := &image.Disk{Path: d.Path, Size: d.Size}
	for _, mk := range []func(progress.Func) vdisk.Writer{
		func(p progress.Func) vdisk.Writer { return vdisk.Raw{Progress: p} },
		func(p progress.Func) vdisk.Writer { return vdisk.QCOW2{Compress: true, Progress: p} },
		func(p progress.Func) vdisk.Writer { return vdisk.GCE{Progress: p} },
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var seen bool
		w := mk(progress.Func(func(_ string, done, _ int64) {
			if done > 0 {
				seen = true
				cancel()
			}
		}))
		t.Run(string(w.Format()), func(t *testing.T) {
			dir := t.TempDir()
			_, err := image.Export(ctx, disk, w, filepath.Join(dir, "out"), image.ExportRef(vm.Ref{}))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			if !seen {
				t.Fatal("the writer reported no progress before it was cancelled")
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("cancelled export left %v", ents)
			}
		})
		cancel()
	}
}

func ExampleExport() {
	dir, _ := os.MkdirTemp("", "export")
	defer os.RemoveAll(dir)
	raw := filepath.Join(dir, "disk.raw")
	f, _ := os.Create(raw)
	f.Truncate(3 << 20) // a 3 MiB disk of holes
	f.Close()
	a, err := image.Export(context.Background(), &image.Disk{Path: raw}, vdisk.VHD{}, filepath.Join(dir, "disk.vhd"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Format, a.VirtualSize, a.Size)
	// Output: vhd 3145728 3146240
}

// Cancelling the export of a disk of terabytes of holes stops within a
// bounded amount of work: the export hashes every zero of a hole, and it
// checks its context between pieces of one (before, `hardvm convert` of a
// 10 TiB sparse disk never stopped). The measure is the bytes the export
// reports done after the cancel, never a time.
func TestExportCancelHugeSparse(t *testing.T) {
	const size = 4 << 40
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{0xa5}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Raw hashes its holes; GCE and qcow2 store them as nothing, and
	// must not spend work on them either.
	for _, w := range []vdisk.Writer{vdisk.Raw{}, vdisk.GCE{}, vdisk.QCOW2{}} {
		t.Run(string(w.Format()), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var atCancel, last int64 = -1, 0
			p := progress.Func(func(_ string, done, _ int64) {
				last = done
				if atCancel < 0 && done > 0 {
					atCancel = done
					cancel()
				}
			})
			out := filepath.Join(t.TempDir(), "out"+w.Format().Ext())
			_, err := image.Export(ctx, &image.Disk{Path: raw, Size: size}, w, out, image.ExportProgress(p))
			if atCancel < 0 {
				t.Fatalf("the export reported no progress (%v)", err)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			if after := last - atCancel; after > 128<<20 {
				t.Errorf("the export went on for %d bytes after it was cancelled, want at most 128 MiB", after)
			}
		})
	}
}
