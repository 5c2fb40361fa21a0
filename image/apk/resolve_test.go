package apk

import (
	"errors"
	"strings"
	"testing"
)

func pkg(name, version string, deps, provides []string, prio int64) *Package {
	return &Package{Name: name, Version: version, Depends: deps, Provides: provides, ProviderPriority: prio, InstalledSize: 1}
}

func names(sel []Selected) string {
	var s []string
	for _, p := range sel {
		s = append(s, p.Name+"-"+p.Version)
	}
	return strings.Join(s, " ")
}

func TestResolve(t *testing.T) {
	main := &Source{Name: "main", Packages: []*Package{
		pkg("busybox", "1.36-r0", []string{"so:libc.so.6"}, []string{"cmd:sh=1.36-r0"}, 0),
		pkg("busybox", "1.37-r0", []string{"so:libc.so.6"}, []string{"cmd:sh=1.37-r0"}, 0),
		pkg("glibc", "2.41-r0", nil, []string{"so:libc.so.6=6"}, 0),
		pkg("musl", "1.2-r0", nil, []string{"so:libc.so.6=6"}, 0),
		pkg("openssl", "3.5-r0", []string{"so:libc.so.6"}, []string{"openssl-provider"}, 1),
		pkg("openssl-fips", "3.1-r0", nil, []string{"openssl-provider"}, 10),
		pkg("nginx", "1.27-r0", []string{"openssl-provider", "busybox<1.37"}, nil, 0),
		pkg("bash-doc", "5-r0", nil, nil, 0),
		pkg("bash", "5-r0", nil, nil, 0),
		pkg("man-pages", "1-r0", nil, nil, 0),
	}}
	main.Packages[7].InstallIf = []string{"bash", "man-pages"}
	edge := &Source{Name: "edge", Tag: "edge", Packages: []*Package{
		pkg("busybox", "1.38-r0", []string{"so:libc.so.6"}, nil, 0),
	}}
	r, err := NewResolver(main, edge)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		world []string
		want  string
		err   string // substring of the UnsatisfiableError
	}{
		{world: []string{"busybox"}, want: "busybox-1.37-r0 glibc-2.41-r0"},
		{world: []string{"busybox=1.36-r0"}, want: "busybox-1.36-r0 glibc-2.41-r0"},
		{world: []string{"busybox@edge"}, want: "busybox-1.38-r0 glibc-2.41-r0"},
		{world: []string{"cmd:sh"}, want: "busybox-1.37-r0 glibc-2.41-r0"},
		{world: []string{"musl", "busybox"}, want: "busybox-1.37-r0 musl-1.2-r0"},
		{world: []string{"openssl-provider"}, want: "openssl-fips-3.1-r0"},
		{world: []string{"nginx"}, want: "busybox-1.36-r0 glibc-2.41-r0 nginx-1.27-r0 openssl-fips-3.1-r0"},
		{world: []string{"bash", "man-pages"}, want: "bash-5-r0 bash-doc-5-r0 man-pages-1-r0"},
		{world: []string{"busybox>2"}, err: "world wants busybox>2: no version matches"},
		{world: []string{"busybox", "nginx"}, want: "busybox-1.36-r0 glibc-2.41-r0 nginx-1.27-r0 openssl-fips-3.1-r0"},
		{world: []string{"busybox>=1.37", "nginx"}, err: "world → nginx-1.27-r0 wants busybox<1.37: busybox-1.37-r0 is already chosen"},
		{world: []string{"openssl-provider", "!openssl", "!openssl-fips"}, err: "conflicts with !openssl"},
		{world: []string{"nope"}, err: "no package is or provides nope"},
		{world: []string{"busybox", "!glibc"}, want: "busybox-1.37-r0 musl-1.2-r0"},
		{world: []string{"glibc", "!glibc"}, want: ""}, // a later entry for a name replaces an earlier one, as in apk add
		{world: []string{"busybox", "!musl", "!glibc"}, err: "conflicts with !"},
		{world: []string{"!openssl-fips", "openssl-provider"}, want: "glibc-2.41-r0 openssl-3.5-r0"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.world, ","), func(t *testing.T) {
			sel, err := r.Resolve(tt.world)
			if tt.err != "" {
				var ue *UnsatisfiableError
				if !errors.Is(err, ErrUnsatisfiable) || !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(sel); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
