package apk

import (
	"strings"
	"testing"
)

// TestResolveInstalled compares installed-package preference with what
// apk-tools 2.14.10 did (testdata/resolve/README.md, "Installed
// packages"): installed packages older than the repository's are kept
// where they fit, as `apk add` keeps them, and upgraded with WithUpgrade
// (apk add -u) or when the world's constraint excludes them.
func TestResolveInstalled(t *testing.T) {
	idx, err := realIndexes()
	if err != nil {
		t.Fatal(err)
	}
	zlib := &Package{Name: "zlib", Version: "1.2.11-r0", Arch: "aarch64", Checksum: "Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=", Size: 1000, InstalledSize: 4096,
		Depends: []string{"so:libc.musl-x86_64.so.1"}, Provides: []string{"so:libz.so.1=1.2.11"}}
	musl := &Package{Name: "musl", Version: "1.2.2-r0", Arch: "aarch64", Checksum: "Q1BBBBBBBBBBBBBBBBBBBBBBBBBBB=", Size: 1000, InstalledSize: 4096,
		Provides: []string{"so:libc.musl-x86_64.so.1=1"}}
	tests := []struct {
		installed []*Package
		world     []string
		opts      []ResolveOption
		want      string
	}{
		{[]*Package{zlib}, []string{"zlib", "openssh-keygen"}, nil,
			"libcrypto1.1-1.1.1s-r0 musl-1.2.3-r2 openssh-keygen-9.0_p1-r2 zlib-1.2.11-r0"},
		{[]*Package{zlib, musl}, []string{"zlib", "musl", "openssh-keygen"}, nil,
			"libcrypto1.1-1.1.1s-r0 musl-1.2.2-r0 openssh-keygen-9.0_p1-r2 zlib-1.2.11-r0"},
		// apk add -u zlib openssh-keygen
		{[]*Package{zlib}, []string{"zlib", "openssh-keygen"}, []ResolveOption{WithUpgrade()},
			"libcrypto1.1-1.1.1s-r0 musl-1.2.3-r2 openssh-keygen-9.0_p1-r2 zlib-1.2.12-r3"},
		// 1.2.11-r0 > 1.2.11: the installed zlib still fits.
		{[]*Package{zlib}, []string{"zlib>1.2.11", "openssh-keygen"}, nil,
			"libcrypto1.1-1.1.1s-r0 musl-1.2.3-r2 openssh-keygen-9.0_p1-r2 zlib-1.2.11-r0"},
		{[]*Package{zlib}, []string{"zlib>1.2.11-r0", "openssh-keygen"}, nil,
			"libcrypto1.1-1.1.1s-r0 musl-1.2.3-r2 openssh-keygen-9.0_p1-r2 zlib-1.2.12-r3"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.world, ","), func(t *testing.T) {
			r, err := NewResolver(&Source{Name: "installed", Installed: true, Packages: tt.installed}, &Source{Name: "alpine", Packages: idx["alpine"]})
			if err != nil {
				t.Fatal(err)
			}
			sel, err := r.Resolve(tt.world, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(sel); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			for _, s := range sel {
				if s.Version == "1.2.11-r0" && s.Source.Name != "installed" {
					t.Errorf("%s comes from %s, want the installed source", s.Package, s.Source.Name)
				}
			}
			checkSatisfied(t, r, tt.world, sel)
		})
	}
}
