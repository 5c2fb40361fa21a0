package apk

import (
	"errors"
	"testing"
)

func TestParseDependency(t *testing.T) {
	tests := []struct {
		in   string
		want Dependency
	}{
		{"busybox", Dependency{Name: "busybox", Op: OpAny}},
		{"so:libc.so.6", Dependency{Name: "so:libc.so.6", Op: OpAny}},
		{"zlib>=1.2.13", Dependency{Name: "zlib", Op: OpGreater | OpEqual, Version: "1.2.13"}},
		{"zlib<2", Dependency{Name: "zlib", Op: OpLess, Version: "2"}},
		{"libcrypt1<2.38-r15", Dependency{Name: "libcrypt1", Op: OpLess, Version: "2.38-r15"}},
		{"python-3.13~3.13", Dependency{Name: "python-3.13", Op: OpFuzzy | OpEqual, Version: "3.13"}},
		{"!openssl-fips", Dependency{Name: "openssl-fips", Op: OpAny, Conflict: true}},
		{"nginx@edge=1.27.0-r1", Dependency{Name: "nginx", Op: OpEqual, Version: "1.27.0-r1", Tag: "edge"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDependency(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("String() = %q, want %q", s, tt.in)
			}
		})
	}
	for _, bad := range []string{"", "!", "a=", "a=x.y", "a@", "=1.0", "a b", "a=1.0="} {
		if _, err := ParseDependency(bad); !errors.Is(err, ErrDependency) && !errors.Is(err, ErrVersion) {
			t.Errorf("ParseDependency(%q) = %v, want ErrDependency or ErrVersion", bad, err)
		}
	}
}

func TestMatchesVersion(t *testing.T) {
	d, _ := ParseDependency("foo>=1.2")
	if !d.MatchesVersion("1.2") || !d.MatchesVersion("1.10") || d.MatchesVersion("1.1") || d.MatchesVersion("") {
		t.Fatal("foo>=1.2 matches wrongly")
	}
	d, _ = ParseDependency("foo~1.2")
	if !d.MatchesVersion("1.2.9") || d.MatchesVersion("1.3") {
		t.Fatal("foo~1.2 matches wrongly")
	}
}
