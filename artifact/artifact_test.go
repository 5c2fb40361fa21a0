package artifact_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
	digest "github.com/opencontainers/go-digest"
)

func TestName(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"out/disk.qcow2", "disk.qcow2"},
		{"/a/b/disk.raw", "disk.raw"},
		{"disk.vhd", "disk.vhd"},
		{"", ""},
	} {
		if got := (artifact.Artifact{Path: tc.path}).Name(); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestKernel(t *testing.T) {
	for _, tc := range []struct {
		pkgs []string
		want string
	}{
		{[]string{"busybox", "linux-lts", "openssh"}, "linux-lts"},
		{[]string{"linux-virt"}, "linux-virt"},
		{[]string{"linux"}, "linux"},
		{[]string{"linux-firmware", "busybox"}, ""},
	} {
		l := &artifact.Lock{}
		for _, n := range tc.pkgs {
			l.Packages = append(l.Packages, artifact.Package{Name: n, Version: "1-r0"})
		}
		p, ok := l.Kernel()
		if ok != (tc.want != "") || p.Name != tc.want {
			t.Errorf("Kernel(%v) = %q, %v; want %q", tc.pkgs, p.Name, ok, tc.want)
		}
	}
}

// The JSON form is what lock.json and catalog entries store: digests stay
// "sha256:<hex>" strings and round-trip exactly.
func TestJSONRoundTrip(t *testing.T) {
	d := digest.FromString("disk")
	ref, err := vm.ParseRef("base/qemu/x86_64/stable:20261204.120000.1@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	a := artifact.Artifact{Ref: ref, Format: vm.FormatQCOW2, Path: "out/disk.qcow2",
		Size: 10, VirtualSize: 20, Digest: d, RootHash: "ab"}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["digest"] != d.String() {
		t.Errorf("digest encoded as %v, want %q", m["digest"], d)
	}
	var back artifact.Artifact
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != a {
		t.Errorf("round trip: got %+v, want %+v", back, a)
	}
}

func ExampleLock_Kernel() {
	l := &artifact.Lock{Packages: []artifact.Package{
		{Name: "busybox", Version: "1.37.0-r0"},
		{Name: "linux-lts", Version: "6.12.9-r0"},
	}}
	if k, ok := l.Kernel(); ok {
		fmt.Println(k.Name, k.Version)
	}
	// Output: linux-lts 6.12.9-r0
}
