package catalog_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
)

func TestDiff(t *testing.T) {
	from := catalogtest.NewEntry("base/aws/x86_64/stable", 1, 0)
	to := catalogtest.NewEntry("base/aws/x86_64/stable", 2, 0)
	// apk version order, not string order: 1.10 > 1.9, _rc < release,
	// -r10 > -r9, 2.0_p1 > 2.0.
	from.Packages = []catalog.Package{{Name: "busybox", Version: "1.9.0-r0"}, {Name: "curl", Version: "8.11.0-r0"}, {Name: "glibc", Version: "2.40-r10"}, {Name: "linux", Version: "6.12.9-r0"}, {Name: "openssl", Version: "3.4.0-r0"}, {Name: "python", Version: "3.13.0-r0"}, {Name: "zlib", Version: "1.3-r0"}}
	to.Packages = []catalog.Package{{Name: "busybox", Version: "1.10.0-r0"}, {Name: "glibc", Version: "2.40-r9"}, {Name: "jq", Version: "1.7-r0"}, {Name: "linux", Version: "6.12.10-r0"}, {Name: "openssl", Version: "3.4.0-r0"}, {Name: "python", Version: "3.13.0_rc1-r0"}, {Name: "zlib", Version: "1.3.0-r0"}}
	from.Kernel, to.Kernel = "6.12.9-r0", "6.12.10-r0"
	from.InstalledSize, to.InstalledSize = 10<<20, 10<<20+3072
	to.Artifacts[1].Size = from.Artifacts[1].Size - 512

	d := catalog.Diff(from, to)
	check := func(what string, got []catalog.PackageChange, want string) {
		t.Helper()
		var s []string
		for _, c := range got {
			s = append(s, c.Name+":"+c.From+">"+c.To)
		}
		if strings.Join(s, " ") != want {
			t.Errorf("%s: %s, want %s", what, strings.Join(s, " "), want)
		}
	}
	check("upgraded", d.Upgraded, "busybox:1.9.0-r0>1.10.0-r0 linux:6.12.9-r0>6.12.10-r0 zlib:1.3-r0>1.3.0-r0")
	check("downgraded", d.Downgraded, "glibc:2.40-r10>2.40-r9 python:3.13.0-r0>3.13.0_rc1-r0")
	check("added", d.Added, "jq:>1.7-r0")
	check("removed", d.Removed, "curl:8.11.0-r0>")
	check("rebuilt", d.Rebuilt, "")
	if d.Unchanged != 1 || d.Kernel == nil || d.Kernel.To != "6.12.10-r0" || d.InstalledSize.Delta() != 3072 {
		t.Errorf("unchanged %d, kernel %+v, size %+v", d.Unchanged, d.Kernel, d.InstalledSize)
	}
	if len(d.Disks) != 2 || d.Disks[1].Size.Delta() != -512 {
		t.Errorf("disks %+v", d.Disks)
	}
	if got, want := d.Summary(), "kernel 6.12.9-r0 → 6.12.10-r0, 3 upgraded, 2 downgraded, 1 added, 1 removed, installed size +3.0 KiB"; got != want {
		t.Errorf("summary %q\nwant    %q", got, want)
	}
	var tbl bytes.Buffer
	if err := d.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`upgraded +busybox +1\.9\.0-r0 +1\.10\.0-r0\n`, `removed +curl +8\.11\.0-r0 +-\n`, `kernel +6\.12\.9-r0 +6\.12\.10-r0\n`, `size +qcow2 .*\(-512 B\)`} {
		if !regexp.MustCompile(want).MatchString(tbl.String()) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back catalog.Delta
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(back); string(b2) != string(b) {
		t.Errorf("JSON does not round-trip:\n%s\n%s", b, b2)
	}

	if same := catalog.Diff(to, to); !same.Empty() || same.Unchanged != len(to.Packages) {
		t.Errorf("Diff of an entry with itself: %+v", same)
	}
}
