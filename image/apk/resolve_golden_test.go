package apk

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// realIndexes are the signed indexes of the module's test data, read and
// verified once: "alpine" (Alpine v3.16 main/aarch64, 4929 packages,
// signed by Alpine's 6165ee59 key) and "cg" (the Chainguard-signed index,
// three RSA-SHA256 signatures).
var realIndexes = sync.OnceValues(func() (map[string][]*Package, error) {
	load := func(dir, key string) ([]*Package, error) {
		k, err := LoadKeyring(filepath.Join(realData, dir, "keys", key))
		if err != nil {
			return nil, err
		}
		f, err := os.Open(filepath.Join(realData, dir, "APKINDEX.tar.gz"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		idx, err := ReadIndex(f, k, dir)
		if err != nil {
			return nil, err
		}
		return idx.Packages, nil
	}
	a, err := load("alpine-3.16-aarch64", "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub")
	if err != nil {
		return nil, err
	}
	c, err := load("chainguard-signed-index", "chainguard-0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0.rsa.pub")
	if err != nil {
		return nil, err
	}
	return map[string][]*Package{"alpine": a, "cg": c}, nil
})

// goldenWorld is one line of testdata/resolve/golden.tsv: what apk-tools
// 2.14.10 installs for a world (see testdata/resolve/README.md).
type goldenWorld struct {
	name, repos string
	world       []string
	ok          bool
	want        string // sorted name-version list, or apk-tools' error
}

func readGolden(t testing.TB) []goldenWorld {
	t.Helper()
	f, err := os.Open("testdata/resolve/golden.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenWorld
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 4 {
			t.Fatalf("golden line %q: want 4 columns", sc.Text())
		}
		g := goldenWorld{name: cols[0], repos: cols[1], world: strings.Fields(cols[2])}
		switch {
		case strings.HasPrefix(cols[3], "ok: "):
			g.ok, g.want = true, strings.TrimPrefix(cols[3], "ok: ")
		case strings.HasPrefix(cols[3], "error: "):
			g.want = strings.TrimPrefix(cols[3], "error: ")
		default:
			t.Fatalf("golden %s: result %q", g.name, cols[3])
		}
		out = append(out, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// goldenSources builds the sources of a golden world's repositories
// ("alpine,@cg=cg": the Alpine index, then the Chainguard one tagged cg).
func goldenSources(t testing.TB, spec string) []*Source {
	t.Helper()
	idx, err := realIndexes()
	if err != nil {
		t.Fatal(err)
	}
	var out []*Source
	for _, r := range strings.Split(spec, ",") {
		tag := ""
		if strings.HasPrefix(r, "@") {
			tag, r, _ = strings.Cut(r[1:], "=")
		}
		out = append(out, &Source{Name: r, Tag: tag, Packages: idx[r]})
	}
	return out
}

// TestResolveMatchesAPKTools resolves every golden world and compares the
// set with apk-tools'. Worlds apk-tools cannot resolve must fail here too:
// each of them has no solution under apk-tools' rules (a conflict, a
// version no package has, or a virtual name apk-tools does not choose a
// provider for by itself), so the backtracking search finds none either.
func TestResolveMatchesAPKTools(t *testing.T) {
	golden := readGolden(t)
	if len(golden) < 20 {
		t.Fatalf("%d golden worlds, want at least 20", len(golden))
	}
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			r, err := NewResolver(goldenSources(t, g.repos)...)
			if err != nil {
				t.Fatal(err)
			}
			sel, err := r.Resolve(g.world)
			if !g.ok {
				if err == nil {
					t.Fatalf("resolved %s; apk-tools fails: %s", names(sel), g.want)
				}
				t.Logf("apk-tools: %s\nresolver: %v", g.want, err)
				return
			}
			if err != nil {
				t.Fatalf("%v; apk-tools installs %s", err, g.want)
			}
			if got, want := sortedNames(sel), sortFields(g.want); got != want {
				t.Fatalf("resolver and apk-tools differ\n only resolver: %s\n only apk-tools: %s", setMinus(got, g.want), setMinus(g.want, got))
			}
			checkSatisfied(t, r, g.world, sel)
		})
	}
}

func sortedNames(sel []Selected) string {
	var s []string
	for _, p := range sel {
		tag := ""
		if p.Source.Tag != "" {
			tag = "@" + p.Source.Tag // apk-tools prints the tag of a pinned package
		}
		s = append(s, p.Name+tag+"-"+p.Version)
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

func sortFields(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return strings.Join(f, " ")
}

func setMinus(a, b string) string {
	in := map[string]bool{}
	for _, x := range strings.Fields(b) {
		in[x] = true
	}
	var out []string
	for _, x := range strings.Fields(a) {
		if !in[x] {
			out = append(out, x)
		}
	}
	return strings.Join(out, " ")
}
