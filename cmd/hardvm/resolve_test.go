package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hardvm/hardvm/hardvmtest"
	"github.com/hardvm/hardvm/vm"
)

const (
	alpineKey  = "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"
	cgKey      = "chainguard-0106f58bac88057c2ff5c2829850df492717a876ed700443550353c7ab23f5a0.rsa.pub"
	realAPK    = "../../testdata/apk"
	testUser   = "hardvm-ci"
	testSecret = "s3cret-0f-the-repo:42"
)

// realRepo lays out one of the module's real indexes as a repository
// directory (DIR/ARCH/APKINDEX.tar.gz) and returns it with its key. The
// packages of testdata/apk/alpine-3.16-aarch64 are x86_64 ones (A:x86_64),
// those of the Chainguard index aarch64.
func realRepo(t *testing.T, which, key string) (dir, keyPath string) {
	t.Helper()
	arch := "aarch64"
	if strings.HasPrefix(which, "alpine") {
		arch = "x86_64"
	}
	dir = filepath.Join(t.TempDir(), which)
	if err := os.MkdirAll(filepath.Join(dir, arch), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(realAPK, which, "APKINDEX.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, arch, "APKINDEX.tar.gz"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(realAPK, which, "keys", key)
}

// goldenSet returns apk-tools' set for a golden world of image/apk.
func goldenSet(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open("../../image/apk/testdata/resolve/golden.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if cols[0] == name {
			set := strings.Fields(strings.TrimPrefix(cols[3], "ok: "))
			slices.Sort(set)
			return set
		}
	}
	t.Fatalf("no golden world %s", name)
	return nil
}

func TestResolveCommand(t *testing.T) {
	alpine, alpineKeyPath := realRepo(t, "alpine-3.16-aarch64", alpineKey)
	cg, cgKeyPath := realRepo(t, "chainguard-signed-index", cgKey)

	code, stdout, stderr := runCLI(t, "resolve", "--repository", alpine, "--keyring", alpineKeyPath, "--arch", "x86_64", "--json", "alpine-base", "openssh")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkJSON(t, "resolve", stdout)
	var got []resolvedPackage
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	var set []string
	for _, p := range got {
		set = append(set, p.Name+"-"+p.Version)
		if p.Repository != "file://"+alpine || !strings.HasPrefix(p.Checksum, "Q1") {
			t.Errorf("%+v: want the repository and a Q1 checksum", p)
		}
	}
	slices.Sort(set)
	if want := goldenSet(t, "ssh-server"); !slices.Equal(set, want) {
		t.Fatalf("resolve gives %v\napk-tools gives %v", set, want)
	}

	// A tagged repository: only name@tag entries (and what they pull in)
	// resolve there. The table output.
	code, stdout, stderr = runCLI(t, "resolve", "--repository", "@cg="+cg, "--keyring", cgKeyPath, "--arch", "aarch64", "wolfi-base@cg")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if !strings.HasPrefix(lines[0], "NAME") || len(lines) != 1+len(goldenSet(t, "cg-wolfi-base")) {
		t.Fatalf("table:\n%s", stdout)
	}
	if !strings.Contains(stdout, "busybox                 1.37.0-r0") || strings.Count(stdout, "file://"+cg) != len(lines)-1 {
		t.Fatalf("every package should come from the tagged repository:\n%s", stdout)
	}
	code, _, stderr = runCLI(t, "resolve", "--repository", "@cg="+cg, "--keyring", cgKeyPath, "--arch", "aarch64", "wolfi-base")
	if code != 1 || !strings.Contains(stderr, "pin with name@tag") {
		t.Fatalf("unpinned: exit %d: %s", code, stderr)
	}

	// Failures: an unsatisfiable world names the chain; bad usage is 2.
	code, _, stderr = runCLI(t, "resolve", "--repository", alpine, "--keyring", alpineKeyPath, "--arch", "x86_64", "alpine-base", "!busybox")
	if code != 1 || !strings.Contains(stderr, "world → alpine-base-3.16.3-r0 wants busybox") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, args := range [][]string{
		{"--repository", alpine, "--arch", "x86_64"},
		{"--arch", "x86_64", "busybox"},
		{"--repository", alpine, "busybox"},
		{"--repository", "@cg", "--arch", "x86_64", "busybox"},
	} {
		if code, _, _ := runCLI(t, append([]string{"resolve"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// basicAuthRepo serves dir on 127.0.0.1, requiring testUser/testSecret,
// and counts the requests refused.
func basicAuthRepo(t *testing.T, dir string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var refused atomic.Int64
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != testUser || p != testSecret {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &refused
}

func TestResolveCommandCredentials(t *testing.T) {
	alpine, keyPath := realRepo(t, "alpine-3.16-aarch64", alpineKey)
	srv, refused := basicAuthRepo(t, alpine)
	t.Setenv("NETRC", filepath.Join(t.TempDir(), "none"))

	t.Setenv("HTTP_AUTH", "")
	code, _, stderr := runCLI(t, "resolve", "--repository", srv.URL, "--keyring", keyPath, "--arch", "x86_64", "busybox")
	if code != 1 || !strings.Contains(stderr, "401") || !strings.Contains(stderr, "HTTP_AUTH=basic:127.0.0.1:USER:PASSWORD") {
		t.Fatalf("without credentials: exit %d: %s", code, stderr)
	}

	// A netrc file works, and so does HTTP_AUTH.
	netrc := filepath.Join(t.TempDir(), "netrc")
	os.WriteFile(netrc, []byte("machine 127.0.0.1 login "+testUser+" password "+testSecret+"\n"), 0o600)
	t.Setenv("NETRC", netrc)
	code, stdout, stderr := runCLI(t, "resolve", "--repository", srv.URL, "--keyring", keyPath, "--arch", "x86_64", "-v", "busybox")
	if code != 0 || !strings.Contains(stdout, "busybox") {
		t.Fatalf("netrc: exit %d: %s", code, stderr)
	}
	noSecret(t, "resolve output", []byte(stdout+stderr))
	t.Setenv("NETRC", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HTTP_AUTH", "basic:127.0.0.1:"+testUser+":"+testSecret)
	before := refused.Load()
	cache := t.TempDir()
	for i := 0; i < 2; i++ {
		code, stdout, stderr = runCLI(t, "resolve", "--repository", srv.URL, "--keyring", keyPath, "--arch", "x86_64", "--cache", cache, "-v", "busybox")
		if code != 0 {
			t.Fatalf("HTTP_AUTH: exit %d: %s", code, stderr)
		}
		noSecret(t, "resolve output", []byte(stdout+stderr))
	}
	if refused.Load() != before {
		t.Fatal("a request went without the credentials")
	}
	noSecretInTree(t, cache)

	// Credentials in the URL: refused, with the way to give them, without
	// repeating them.
	code, _, stderr = runCLI(t, "resolve", "--repository", strings.Replace(srv.URL, "http://", "http://"+testUser+":"+testSecret+"@", 1),
		"--keyring", keyPath, "--arch", "x86_64", "busybox")
	if code != 1 || !strings.Contains(stderr, "HTTP_AUTH=basic:127.0.0.1:USER:PASSWORD") {
		t.Fatalf("user info: exit %d: %s", code, stderr)
	}
	noSecret(t, "error", []byte(stderr))
}

// secretForms are the ways a secret could be written out: plain, and
// inside an Authorization header.
func secretForms() [][]byte {
	return [][]byte{
		[]byte(testSecret),
		[]byte(base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testSecret))),
		[]byte("s3cret-0f-the-repo"),
	}
}

func noSecret(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, s := range secretForms() {
		if bytes.Contains(b, s) {
			t.Errorf("%s contains the secret (%q)", what, s)
		}
	}
}

// noSecretInTree reads every byte of every file under dir (disks
// included, in chunks that overlap by the longest form) and fails on any
// form of the secret.
func noSecretInTree(t *testing.T, dir string) (files int, bytesRead int64) {
	t.Helper()
	forms := secretForms()
	overlap := 0
	for _, f := range forms {
		overlap = max(overlap, len(f))
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		files++
		buf := make([]byte, 1<<20+overlap)
		carry := 0
		for {
			n, rerr := io.ReadFull(fh, buf[carry:])
			bytesRead += int64(n)
			chunk := buf[:carry+n]
			for _, s := range forms {
				if bytes.Contains(chunk, s) {
					t.Errorf("%s contains the secret (%q)", path, s)
				}
			}
			if rerr != nil {
				break
			}
			carry = copy(buf, chunk[len(chunk)-overlap:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, bytesRead
}

// TestBuildWithCredentialsLeaksNothing builds a whole image (disks, lock,
// SBOM, provenance, bundles, cache) from a private repository on 127.0.0.1
// that requires basic auth, with the credentials in HTTP_AUTH, then reads
// every byte of every output, the cache, the logs and the output of the
// command for the secret. The packages are the demo repository's (see
// hardvmtest: real formats, stand-in contents).
func TestBuildWithCredentialsLeaksNothing(t *testing.T) {
	tmp := t.TempDir()
	repo, err := hardvmtest.WriteDemoRepository(filepath.Join(tmp, "repo"), vm.X86_64, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv, refused := basicAuthRepo(t, strings.TrimPrefix(repo.URL, "file://"))
	repo.URL = srv.URL
	spec := writeSpec(t, filepath.Join(tmp, "spec.yaml"), repo)
	t.Setenv("NETRC", filepath.Join(tmp, "none"))
	t.Setenv("HTTP_AUTH", "basic:127.0.0.1:"+testUser+":"+testSecret)
	out := filepath.Join(tmp, "out")

	code, stdout, stderr := runCLI(t, "build", "--spec", spec, "--out", out, "-v")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if refused.Load() != 0 {
		t.Fatalf("%d requests went without credentials", refused.Load())
	}
	noSecret(t, "stdout", []byte(stdout))
	noSecret(t, "stderr (logs)", []byte(stderr))
	files, n := noSecretInTree(t, out)
	var disks int
	filepath.WalkDir(out, func(p string, d os.DirEntry, _ error) error {
		if strings.HasSuffix(p, ".raw") || strings.HasSuffix(p, ".qcow2") {
			disks++
		}
		return nil
	})
	if disks == 0 || files < 5 {
		t.Fatalf("searched %d files (%d disks): the build did not write what it should", files, disks)
	}
	t.Logf("searched %d files, %d bytes, and the logs", files, n)

	// The same spec without credentials fails with a hint, and no secret.
	t.Setenv("HTTP_AUTH", "")
	code, _, stderr = runCLI(t, "build", "--spec", spec, "--out", filepath.Join(tmp, "out2"))
	if code == 0 || !strings.Contains(stderr, "HTTP_AUTH") {
		t.Fatalf("without credentials: exit %d: %s", code, stderr)
	}
}
