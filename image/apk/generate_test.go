package apk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Generated worlds: small repositories built from a seed, with several
// versions per name, versioned and unversioned provides (with
// provider_priority), version constraints, conflicts and install_if. Some
// are built so that the newest provider leads into a conflict two levels
// down, where apk-tools' solver gives up and only backtracking finds the
// set. testdata/resolve/generated.tsv holds what apk-tools 2.14.10 did
// with each (recipe in testdata/resolve/README.md; -apkgen DIR writes the
// repositories for it).

var apkGenDir = flag.String("apkgen", "", "write the generated worlds' repositories under this directory (for the apk-tools recipe)")

type genWorld struct {
	seed  uint64
	kind  string
	pkgs  []*Package
	world []string
}

func genChecksum(p *Package) string {
	h := sha1.Sum([]byte(p.Name + "-" + p.Version + "|" + strings.Join(p.Depends, " ") + "|" + strings.Join(p.Provides, " ")))
	return "Q1" + base64.StdEncoding.EncodeToString(h[:])
}

func genPkg(name, version string, deps, provides []string) *Package {
	return &Package{Name: name, Version: version, Arch: "aarch64", Size: 1000, InstalledSize: 4096, Depends: deps, Provides: provides}
}

// generateWorld returns the world of one seed. Seeds below 20 are
// "trap" worlds (backtracking needed), the rest random.
func generateWorld(seed uint64) genWorld {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	if seed < 20 {
		return trapWorld(seed, rng)
	}
	return randomWorld(seed, rng)
}

// trapWorld: app's newest version needs a library pair whose newest
// versions agree on nothing; depth and width vary with the seed.
func trapWorld(seed uint64, rng *rand.Rand) genWorld {
	g := genWorld{seed: seed, kind: "trap"}
	depth := 2 + int(seed%3)
	n := 2 + rng.IntN(3)
	// core-1 .. core-n; left-k needs core=k (k newest first), right needs core=1.
	for v := 1; v <= n; v++ {
		g.pkgs = append(g.pkgs, genPkg("core", fmt.Sprintf("%d.0-r0", v), nil, []string{fmt.Sprintf("so:libcore.so.%d=%d.0", v, v)}))
	}
	prev := ""
	for d := depth; d >= 1; d-- {
		name := fmt.Sprintf("mid%d", d)
		var deps []string
		if prev != "" {
			deps = []string{prev}
		} else {
			deps = []string{fmt.Sprintf("so:libcore.so.%d", n)}
		}
		g.pkgs = append(g.pkgs, genPkg(name, "1.0-r0", deps, nil))
		prev = name
	}
	g.pkgs = append(g.pkgs,
		genPkg("right", "2.0-r0", []string{"core<2"}, nil),
		genPkg("right", "1.0-r0", []string{"core"}, nil),
		genPkg("app", "3.0-r0", []string{prev, "right>=2"}, []string{"cmd:app=3.0-r0"}),
		genPkg("app", "2.0-r0", []string{"right"}, []string{"cmd:app=2.0-r0"}),
	)
	if rng.IntN(2) == 0 {
		g.world = []string{"cmd:app"}
	} else {
		g.world = []string{"app"}
	}
	if seed%4 == 3 {
		// No way out: the old app is gone too.
		g.pkgs = g.pkgs[:len(g.pkgs)-1]
		g.kind = "trap-unsat"
	}
	return g
}

func randomWorld(seed uint64, rng *rand.Rand) genWorld {
	g := genWorld{seed: seed, kind: "random"}
	nNames := 6 + rng.IntN(10)
	name := func(i int) string { return fmt.Sprintf("p%02d", i) }
	for i := 0; i < nNames; i++ {
		versions := 1 + rng.IntN(3)
		for v := 1; v <= versions; v++ {
			ver := fmt.Sprintf("%d.%d-r%d", v, rng.IntN(3), rng.IntN(2))
			var deps, provides []string
			for k := 0; k < rng.IntN(3); k++ {
				j := i + 1 + rng.IntN(nNames)
				if j >= nNames {
					continue
				}
				switch rng.IntN(6) {
				case 0:
					deps = append(deps, fmt.Sprintf("%s>=%d", name(j), 1+rng.IntN(2)))
				case 1:
					deps = append(deps, fmt.Sprintf("%s<%d", name(j), 2+rng.IntN(2)))
				case 2:
					deps = append(deps, fmt.Sprintf("so:lib%s.so.%d", name(j), 1+rng.IntN(2)))
				case 3:
					deps = append(deps, "!"+name(j))
				case 4:
					deps = append(deps, "virt"+fmt.Sprint(j%3))
				default:
					deps = append(deps, name(j))
				}
			}
			provides = append(provides, fmt.Sprintf("so:lib%s.so.%d=%d", name(i), v, v))
			p := genPkg(name(i), ver, deps, provides)
			if rng.IntN(4) == 0 {
				p.Provides = append(p.Provides, "virt"+fmt.Sprint(i%3))
				p.ProviderPriority = int64(rng.IntN(3))
			}
			if rng.IntN(8) == 0 && i > 1 {
				p.InstallIf = []string{name(rng.IntN(i))}
			}
			g.pkgs = append(g.pkgs, p)
		}
	}
	for k := 0; k < 1+rng.IntN(3); k++ {
		w := name(rng.IntN(nNames))
		if rng.IntN(5) == 0 {
			w += fmt.Sprintf(">=%d", 1+rng.IntN(2))
		}
		g.world = append(g.world, w)
	}
	if rng.IntN(4) == 0 {
		g.world = append(g.world, "!"+name(rng.IntN(nNames)))
	}
	return g
}

func (g genWorld) source() *Source {
	for _, p := range g.pkgs {
		if p.Checksum == "" {
			p.Checksum = genChecksum(p)
		}
	}
	return &Source{Name: fmt.Sprintf("gen%d", g.seed), Packages: g.pkgs}
}

// writeRepo writes the world's repository as an unsigned APKINDEX.tar.gz
// that apk-tools reads with --allow-untrusted.
func (g genWorld) writeRepo(dir string) error {
	var text bytes.Buffer
	if err := WriteIndex(&text, g.source().Packages); err != nil {
		return err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		data []byte
	}{{"DESCRIPTION", []byte("generated")}, {"APKINDEX", text.Bytes()}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			return err
		}
		tw.Write(f.data)
	}
	tw.Close()
	zw.Close()
	if err := os.MkdirAll(filepath.Join(dir, "aarch64"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "aarch64", "APKINDEX.tar.gz"), out.Bytes(), 0o644)
}

const generatedWorlds = 120

// TestWriteGeneratedWorlds writes the repositories and worlds for the
// apk-tools recipe when -apkgen is given.
func TestWriteGeneratedWorlds(t *testing.T) {
	if *apkGenDir == "" {
		t.Log("-apkgen not given: nothing to write (the recipe in testdata/resolve/README.md uses it)")
		return
	}
	var list strings.Builder
	for s := uint64(0); s < generatedWorlds; s++ {
		g := generateWorld(s)
		if err := g.writeRepo(filepath.Join(*apkGenDir, fmt.Sprint(s))); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&list, "%d\t%d\t%s\n", s, s, strings.Join(g.world, " "))
	}
	if err := os.WriteFile(filepath.Join(*apkGenDir, "worlds.tsv"), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResolveGeneratedWorlds compares every generated world with what
// apk-tools did. Where apk-tools resolved, the sets are equal. Where it
// gave up on a trap world, backtracking must find the old app (and a set
// that satisfies everything); on a trap world without the old app, and on
// random worlds apk-tools could not resolve, the resolver either fails
// with a chain or returns a set that satisfies everything (a set
// apk-tools' solver did not find).
func TestResolveGeneratedWorlds(t *testing.T) {
	data, err := os.ReadFile("testdata/resolve/generated.tsv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != generatedWorlds {
		t.Fatalf("%d golden lines, want %d", len(lines), generatedWorlds)
	}
	var backtracked, extra int
	for _, line := range lines {
		cols := strings.Split(line, "\t")
		var seed uint64
		fmt.Sscan(cols[0], &seed)
		g := generateWorld(seed)
		if got := strings.Join(g.world, " "); got != cols[2] {
			t.Fatalf("seed %d: generator gives world %q, golden has %q (the generator changed: rerun the recipe)", seed, got, cols[2])
		}
		r, err := NewResolver(g.source())
		if err != nil {
			t.Fatal(err)
		}
		sel, err := r.Resolve(g.world)
		apkOK := strings.HasPrefix(cols[3], "ok:")
		switch {
		case apkOK:
			if err != nil {
				t.Errorf("seed %d (%s): %v; apk-tools installs %s", seed, g.kind, err, cols[3])
				continue
			}
			if got, want := sortedNames(sel), sortFields(strings.TrimPrefix(cols[3], "ok:")); got != want {
				t.Errorf("seed %d (%s): world %v\n resolver:  %s\n apk-tools: %s", seed, g.kind, g.world, got, want)
			}
		case g.kind == "trap":
			if err != nil {
				t.Errorf("seed %d: trap world not solved by backtracking: %v", seed, err)
				continue
			}
			if !strings.Contains(names(sel), "app-2.0-r0") {
				t.Errorf("seed %d: backtracking chose %s, want app-2.0-r0", seed, names(sel))
			}
			backtracked++
		case g.kind == "trap-unsat":
			var ue *UnsatisfiableError
			if !errorsAs(err, &ue) || len(ue.Chain) < 2 || !strings.Contains(err.Error(), "app-3.0-r0") {
				t.Errorf("seed %d: want an unsatisfiable error with a chain through app-3.0-r0, got %v", seed, err)
			}
			continue
		default:
			if err == nil {
				extra++
			}
		}
		if err == nil {
			if err := satisfies(g.world, sel); err != nil {
				t.Errorf("seed %d: %v", seed, err)
			}
		}
	}
	t.Logf("%d trap worlds solved by backtracking, %d random worlds apk-tools gave up on solved", backtracked, extra)
	if backtracked < 10 {
		t.Errorf("only %d trap worlds needed backtracking", backtracked)
	}
}

// TestResolvedSetsSatisfyEverything is the property test: for many more
// generated worlds than apk-tools ran, every set the resolver returns
// satisfies every dependency and conflict of every package in it, and
// every failure is an *UnsatisfiableError with a chain from the world.
func TestResolvedSetsSatisfyEverything(t *testing.T) {
	n := uint64(3000)
	if testing.Short() {
		n = 300
	}
	var solved, failed int
	for seed := uint64(0); seed < n; seed++ {
		g := generateWorld(seed)
		r, err := NewResolver(g.source())
		if err != nil {
			t.Fatal(err)
		}
		sel, err := r.Resolve(g.world)
		if err != nil {
			var ue *UnsatisfiableError
			if !errorsAs(err, &ue) || len(ue.Chain) == 0 || (ue.Chain[0] != "world" && ue.Chain[0] != "install_if") {
				t.Fatalf("seed %d: %v is not an unsatisfiable error with a chain", seed, err)
			}
			failed++
			continue
		}
		if err := satisfies(g.world, sel); err != nil {
			t.Fatalf("seed %d: world %v: %v", seed, g.world, err)
		}
		solved++
	}
	t.Logf("%d solved, %d unsatisfiable", solved, failed)
	if solved == 0 || failed == 0 {
		t.Fatal("the generator no longer makes both kinds of world")
	}
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }
