package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func stageAll(t *testing.T, r *Rootfs, pkg string, hs []*tar.Header) []stagedEntry {
	t.Helper()
	var out []stagedEntry
	for _, h := range hs {
		e, err := r.stageEntry(pkg, h, strings.NewReader(strings.Repeat("x", int(h.Size))))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestInstallRollsBack: a package that fails on its last entry leaves the
// tree byte for byte as it was, whatever its earlier entries did (new
// files, replaced files, hardlinks, new directories, implicit parents).
func TestInstallRollsBack(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	r := mergedUsr(t)
	reg := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
	}
	own := stageAll(t, r, "own", []*tar.Header{reg("etc/owned", 3)})
	if err := r.install("own", nil, own, epoch); err != nil {
		t.Fatal(err)
	}
	var before bytes.Buffer
	must(t, r.WriteTar(context.Background(), &before))
	size, entries := r.Size(), r.entries
	bad := stageAll(t, r, "bad", []*tar.Header{
		reg("etc/new", 5),
		reg("etc/os-release", 7), // owned by "base": replaces allows it
		{Name: "etc/newdir", Typeflag: tar.TypeDir, Mode: 0o700},
		reg("opt/deep/implicit", 2),
		{Name: "etc/newdir/link", Typeflag: tar.TypeLink, Linkname: "etc/new"},
		{Name: "usr/bin/su", Typeflag: tar.TypeSymlink, Linkname: "busybox"},
		reg("etc/owned", 1), // owned by "own", not replaced: conflict
	})
	err := r.install("bad", []string{"base"}, bad, epoch)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	var after bytes.Buffer
	must(t, r.WriteTar(context.Background(), &after))
	if !bytes.Equal(before.Bytes(), after.Bytes()) {
		t.Fatal("a failed install changed the tree")
	}
	if r.Size() != size || r.entries != entries {
		t.Fatalf("size %d→%d, entries %d→%d", size, r.Size(), entries, r.entries)
	}
	fi, _ := r.Stat("usr/bin/su2")
	if a := fi.Sys().(*FileAttr); a.Nlink != 2 {
		t.Fatalf("su2 nlink = %d after rollback, want 2", a.Nlink)
	}
}
