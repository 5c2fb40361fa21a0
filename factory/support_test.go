package factory_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk/apktest"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// Build times of the extras repository's two releases (Unix seconds),
// both newer than the demo repository's packages (1763856000).
const (
	release1Time = 1764000000
	release2Time = 1764086400
)

// writeExtras writes the extras repository: one tool package per variant
// the tests use. Release 2 bumps tool-nginx (a fix of CVE-2026-1111, see
// secdbJSON) and tool-squid.
func writeExtras(dir string, rel int) (vm.Repository, error) {
	repo := apktest.NewRepository(dir, string(vm.X86_64), apktest.NewKey("factory-extras.rsa.pub", 7))
	for _, t := range []struct{ name, v1, v2 string }{
		{"tool-base", "1.0-r0", "1.0-r0"},
		{"tool-nginx", "1.0-r0", "1.0-r1"},
		{"tool-squid", "2.0-r0", "2.1-r0"},
	} {
		v, bt := t.v1, int64(release1Time)
		if rel >= 2 && t.v2 != t.v1 {
			v, bt = t.v2, release2Time
		}
		repo.Add(apktest.Package{Name: t.name, Version: v, BuildTime: bt, License: "Apache-2.0",
			Description: "factory test tool", Files: []apktest.File{{Name: "usr/bin/" + t.name, Mode: 0o755, Data: []byte(t.name + " " + v + "\n")}}})
	}
	if err := repo.Write(); err != nil {
		return vm.Repository{}, err
	}
	return vm.Repository{URL: repo.URL(), Keys: []string{repo.KeyPath()}, Family: vm.Wolfi}, nil
}

// secdbJSON is the extras repository's security database.
const secdbJSON = `{"reponame":"extras","packages":[
 {"pkg":{"name":"tool-nginx","secfixes":{"1.0-r1":["CVE-2026-1111"]}}},
 {"pkg":{"name":"tool-squid","secfixes":{"1.9-r0":["CVE-2025-0001"]}}}]}`

// repos holds the test's two repositories on disk and, optionally, served
// over HTTP.
type repos struct {
	dir          string
	demo, extras vm.Repository
}

// The demo repository is written once per test binary (it is never
// changed) into sharedDir, which TestMain removes.
var (
	sharedDir  string
	demoOnce   sync.Once
	sharedDemo vm.Repository
	demoErr    error
)

func newRepos(t testing.TB) *repos {
	t.Helper()
	r := &repos{dir: t.TempDir()}
	demoOnce.Do(func() {
		sharedDemo, demoErr = hardvmtest.WriteDemoRepository(filepath.Join(sharedDir, "demo"), vm.X86_64, 1)
	})
	if demoErr != nil {
		t.Fatal(demoErr)
	}
	r.demo = sharedDemo
	// The HTTP server serves r.dir: link the shared repository into it.
	if err := os.Symlink(filepath.Join(sharedDir, "demo"), filepath.Join(r.dir, "demo")); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.extras, err = writeExtras(filepath.Join(r.dir, "extras"), 1); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *repos) bump(t testing.TB) {
	t.Helper()
	if _, err := writeExtras(filepath.Join(r.dir, "extras"), 2); err != nil {
		t.Fatal(err)
	}
}

// server serves dir over HTTP with a strong ETag (the SHA-256 of the
// file) and answers If-None-Match with 304, as CDNs in front of APK
// repositories do; it counts requests and 304s.
type server struct {
	*httptest.Server
	mu                  sync.Mutex
	requests, unchanged int
	packages            int // requests for .apk files
}

func serve(t testing.TB, dir string) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.mu.Lock()
		s.requests++
		if strings.HasSuffix(req.URL.Path, ".apk") {
			s.packages++
		}
		s.mu.Unlock()
		p := filepath.Join(dir, filepath.FromSlash(filepath.Clean("/"+req.URL.Path)))
		data, err := os.ReadFile(p)
		if err != nil {
			http.NotFound(w, req)
			return
		}
		sum := sha256.Sum256(data)
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		if req.Header.Get("If-None-Match") == etag {
			s.mu.Lock()
			s.unchanged++
			s.mu.Unlock()
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) counts() (requests, unchanged, packages int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.unchanged, s.packages
}

// specs returns the test's streams: base, nginx and squid, on QEMU and
// AWS, on both kernel tracks (12 streams); each installs its variant's
// tool from the extras repository.
func specs(repos ...vm.Repository) []vm.Spec {
	var out []vm.Spec
	for _, variant := range []string{"base", "nginx", "squid"} {
		for _, p := range []vm.Cloud{vm.QEMU, vm.AWS} {
			for _, k := range vm.KernelTracks() {
				out = append(out, vm.Spec{Variant: variant, Platform: p, Arch: vm.X86_64, Kernel: k,
					Repositories: repos, Packages: []string{"tool-" + variant},
					Formats: []vm.DiskFormat{vm.FormatRaw}, Size: 256 << 20})
			}
		}
	}
	return out
}

// publishLocks records, for each spec, an entry made from its resolved
// lock (packages, kernel) with stand-in artifact digests: the catalog a
// factory finds after building each stream once. (TestWorkers builds and
// publishes for real; here only the catalog's package lists matter.)
func publishLocks(t testing.TB, store catalog.Store, specs []vm.Spec, version vm.Version) {
	t.Helper()
	ctx := context.Background()
	for _, spec := range specs {
		spec.SourceDateEpoch, spec.Build = version.Epoch, version.Build
		lock, err := image.Resolve(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		ref := spec.Ref()
		ref.Digest = digest.FromString(ref.String())
		e := catalog.Entry{Ref: ref, Published: ref.Version.Time(),
			Artifacts: []catalog.Artifact{{Format: vm.FormatRaw, Name: "disk.raw", Size: 1, Digest: ref.Digest}}}
		e.Packages, e.InstalledSize = catalog.PackagesOf(lock)
		if k, ok := lock.Kernel(); ok {
			e.Kernel = k.Version
		}
		if _, err := store.Put(ctx, e); err != nil {
			t.Fatal(fmt.Errorf("%s: %w", ref, err))
		}
	}
}
