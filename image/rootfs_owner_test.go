package image

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardvm/hardvm/image/apk"
)

// TestOwnerNamesMapped installs the real misc/replaces package, whose
// entries belong to jonjohnson/dialout (501/20 in the archive): owner names
// map through the tree's /etc/passwd and /etc/group as apk-tools maps them,
// and fall back to the archive's numbers.
func TestOwnerNamesMapped(t *testing.T) {
	p := filepath.Join("..", "testdata", "apk", "misc", "replaces-0.0.1-r0.apk")
	install := func(passwd, group string) *Rootfs {
		r := newTestRootfs(t)
		must(t, r.Mkdir("etc", 0o755, FileAttr{}))
		if passwd != "" {
			must(t, r.WriteFile("etc/passwd", strings.NewReader(passwd), 0o644, FileAttr{}))
			must(t, r.WriteFile("etc/group", strings.NewReader(group), 0o644, FileAttr{}))
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var entries []stagedEntry
		pf, err := apk.ReadPackage(f, nil, "replaces", func(h *tar.Header, rd io.Reader) error {
			e, err := r.stageEntry("replaces", h, rd)
			entries = append(entries, e)
			return err
		}, apk.WithUnsignedPackageUnsafe())
		if err != nil {
			t.Fatal(err)
		}
		must(t, r.install("replaces", pf.Info.Replaces, entries, time.Unix(1700000000, 0)))
		return r
	}
	owner := func(r *Rootfs, name string) (uint32, uint32) {
		fi, err := r.Lstat(name)
		must(t, err)
		a := fi.Sys().(*FileAttr)
		return a.UID, a.GID
	}
	r := install("root:x:0:0::/root:/bin/sh\njonjohnson:x:1234:1234::/home/j:/bin/sh\n", "root:x:0:\ndialout:x:18:\n")
	if u, g := owner(r, "hello"); u != 1234 || g != 18 {
		t.Errorf("hello owned by %d:%d, want 1234:18 from the tree's passwd and group", u, g)
	}
	r = install("", "")
	if u, g := owner(r, "hello"); u != 501 || g != 20 {
		t.Errorf("hello owned by %d:%d, want the archive's 501:20", u, g)
	}
}
