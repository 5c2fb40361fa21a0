package secdb_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/image/apk/secdb"
)

func load(t *testing.T) *secdb.DB {
	t.Helper()
	f, err := os.Open("testdata/security.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	db, err := secdb.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestFixed(t *testing.T) {
	db := load(t)
	if db.Repository != "os" {
		t.Errorf("Repository = %q", db.Repository)
	}
	for _, c := range []struct {
		name, from, to string
		want           []string
	}{
		{"busybox", "1.36.1-r1", "1.36.1-r2", []string{"CVE-2023-42363", "CVE-2023-42364"}},
		{"busybox", "1.36.1-r2", "1.36.1-r2", nil}, // no change
		{"busybox", "1.36.1-r2", "1.36.1-r6", nil}, // between fixes
		{"busybox", "1.36.0-r0", "1.37.0-r3", []string{"CVE-2023-42363", "CVE-2023-42364", "CVE-2023-42365", "CVE-2023-42366", "GHSA-2x5j-vhc8-9cwm"}},
		{"busybox", "1.37.0-r3", "1.36.0-r0", nil}, // a downgrade fixes nothing
		{"busybox", "", "1.37.0-r3", nil},          // a new package
		{"busybox", "1.36.0-r0", "", nil},          // a removal
		{"busybox", "1.36.0-r0", "not a version", nil},
		{"openssl", "3.6.0-r0", "3.6.0-r2", []string{"CVE-2025-9230", "CVE-2025-9231"}},
		{"openssl", "3.6.0-r2", "3.6.1-r0", nil},
		{"nginx", "1.0-r0", "2.0-r0", nil}, // not in the database
		{"linux", "6.1-r0", "6.2-r0", nil},
	} {
		if got := db.Fixed(c.name, c.from, c.to); !slices.Equal(got, c.want) {
			t.Errorf("Fixed(%s, %s, %s) = %v, want %v", c.name, c.from, c.to, got, c.want)
		}
	}
	if got := db.NotAffected("busybox"); !slices.Equal(got, []string{"CVE-2021-42373"}) {
		t.Errorf("NotAffected = %v", got)
	}
	if got := db.Packages(); !slices.Equal(got, []string{"busybox", "openssl"}) {
		t.Errorf("Packages = %v (linux has no fixes)", got)
	}
	fs := db.Fixes("busybox")
	if len(fs) != 3 || fs[0].Version != "1.36.1-r2" || fs[2].Version != "1.37.0-r1" {
		t.Errorf("Fixes(busybox) = %+v, want three in version order", fs)
	}
	var zero *secdb.DB
	if zero.Fixed("busybox", "1", "2") != nil || zero.Packages() != nil || zero.Fixes("x") != nil || zero.NotAffected("x") != nil {
		t.Error("a nil DB knows fixes")
	}
}

func TestMerge(t *testing.T) {
	a, err := secdb.Parse([]byte(`{"packages":[{"pkg":{"name":"zlib","secfixes":{"1.3-r1":["CVE-2023-45853"]}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := secdb.Parse([]byte(`{"packages":[{"pkg":{"name":"zlib","secfixes":{"1.3-r1":["CVE-2022-37434"],"1.3.1-r0":["CVE-2024-0001"]}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := secdb.Merge(a, nil, b)
	if got := m.Fixed("zlib", "1.3-r0", "1.3.1-r0"); !slices.Equal(got, []string{"CVE-2022-37434", "CVE-2023-45853", "CVE-2024-0001"}) {
		t.Errorf("merged Fixed = %v", got)
	}
	if got := a.Fixed("zlib", "1.3-r0", "1.3.1-r0"); !slices.Equal(got, []string{"CVE-2023-45853"}) {
		t.Errorf("Merge changed its input: %v", got)
	}
}

func TestReadRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not json":         `{"packages":`,
		"trailing data":    `{"packages":[]} {}`,
		"no name":          `{"packages":[{"pkg":{"secfixes":{"1-r0":["CVE-2024-1"]}}}]}`,
		"name with slash":  `{"packages":[{"pkg":{"name":"../x","secfixes":{}}}]}`,
		"bad version":      `{"packages":[{"pkg":{"name":"x","secfixes":{"v1..":["CVE-2024-1"]}}}]}`,
		"ids not a list":   `{"packages":[{"pkg":{"name":"x","secfixes":{"1-r0":"CVE-2024-1"}}}]}`,
		"id of wrong form": `{"packages":[{"pkg":{"name":"x","secfixes":{"1-r0":["<script>"]}}}]}`,
		"id too long":      `{"packages":[{"pkg":{"name":"x","secfixes":{"1-r0":["CVE-` + strings.Repeat("1", 200) + `"]}}}]}`,
		"packages object":  `{"packages":{}}`,
	} {
		if _, err := secdb.Parse([]byte(in)); !errors.Is(err, secdb.ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", name, err)
		}
	}
	big := strings.NewReader(`{"packages":[` + strings.Repeat(" ", secdb.MaxSize) + `]}`)
	if _, err := secdb.Read(big); !errors.Is(err, secdb.ErrFormat) {
		t.Errorf("oversized: err = %v, want ErrFormat", err)
	}
	if _, err := secdb.Parse(make([]byte, secdb.MaxSize+1)); !errors.Is(err, secdb.ErrFormat) {
		t.Errorf("oversized Parse: err = %v, want ErrFormat", err)
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/security.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"packages":[{"pkg":{"name":"a","secfixes":{"0":["CVE-1-1"],"1.0-r0":["X-1 Y-2"]}}}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := secdb.Parse(data)
		if err != nil {
			if !errors.Is(err, secdb.ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		for _, name := range db.Packages() {
			fs := db.Fixes(name)
			for i := 1; i < len(fs); i++ {
				if fs[i-1].Version == fs[i].Version {
					t.Fatalf("%s: version %s listed twice", name, fs[i].Version)
				}
			}
			if len(fs) > 0 {
				// From below the first fix to the last fix: every id.
				all := db.Fixed(name, "0-r0", fs[len(fs)-1].Version)
				for _, f := range fs {
					for _, id := range f.IDs {
						if !slices.Contains(all, id) && !strings.HasPrefix(f.Version, "0") {
							t.Fatalf("%s: %s of %s missing from %v", name, id, f.Version, all)
						}
					}
				}
			}
		}
	})
}
