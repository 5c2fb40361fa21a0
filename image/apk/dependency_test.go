package apk

import (
	"errors"
	"testing"

	"github.com/hardvm/hardvm/image/apk/apkversion"
)

func TestParseDependency(t *testing.T) {
	anyVersion := apkversion.Constraint{Op: apkversion.OpAny}
	tests := []struct {
		in   string
		want Dependency
	}{
		{"busybox", Dependency{Name: "busybox", Constraint: anyVersion}},
		{"so:libc.so.6", Dependency{Name: "so:libc.so.6", Constraint: anyVersion}},
		{"zlib>=1.2.13", Dependency{Name: "zlib", Constraint: apkversion.Constraint{Op: apkversion.OpGreater | apkversion.OpEqual, Version: "1.2.13"}}},
		{"zlib<2", Dependency{Name: "zlib", Constraint: apkversion.Constraint{Op: apkversion.OpLess, Version: "2"}}},
		{"libcrypt1<2.38-r15", Dependency{Name: "libcrypt1", Constraint: apkversion.Constraint{Op: apkversion.OpLess, Version: "2.38-r15"}}},
		{"python-3.13~3.13", Dependency{Name: "python-3.13", Constraint: apkversion.Constraint{Op: apkversion.OpFuzzy | apkversion.OpEqual, Version: "3.13"}}},
		{"!openssl-fips", Dependency{Name: "openssl-fips", Constraint: anyVersion, Conflict: true}},
		{"nginx@edge=1.27.0-r1", Dependency{Name: "nginx", Constraint: apkversion.Constraint{Op: apkversion.OpEqual, Version: "1.27.0-r1"}, Tag: "edge"}},
		{"libfoo><Q1abc=", Dependency{Name: "libfoo", Constraint: apkversion.Constraint{Op: apkversion.OpChecksum, Version: "Q1abc="}}},
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
	for _, bad := range []string{"", "!", "a@", "=1.0", "a b", "a<>=1", "a=<>1"} {
		if _, err := ParseDependency(bad); !errors.Is(err, ErrDependency) {
			t.Errorf("ParseDependency(%q) = %v, want ErrDependency", bad, err)
		}
	}
	for _, bad := range []string{"a=", "a=x.y", "a=1.0=", "a~1.0-beta"} {
		if _, err := ParseDependency(bad); !errors.Is(err, ErrVersion) || !errors.Is(err, apkversion.ErrVersion) {
			t.Errorf("ParseDependency(%q) = %v, want ErrVersion", bad, err)
		}
	}
}

func TestDependencyMatches(t *testing.T) {
	d, _ := ParseDependency("foo>=1.2")
	if !d.Constraint.Match("1.2") || !d.Constraint.Match("1.10") || d.Constraint.Match("1.1") || d.Constraint.Match("") {
		t.Fatal("foo>=1.2 matches wrongly")
	}
	d, _ = ParseDependency("foo~1.2")
	if !d.Constraint.Match("1.2.9") || d.Constraint.Match("1.3") {
		t.Fatal("foo~1.2 matches wrongly")
	}
	d, _ = ParseDependency("foo")
	if !d.Constraint.Match("") || !d.Constraint.Match("0.99f7") {
		t.Fatal("foo does not match every version")
	}
}
