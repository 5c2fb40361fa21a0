package image_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hardvm/hardvm/image"
	"github.com/hardvm/hardvm/image/apk"
	"github.com/hardvm/hardvm/vm"
)

// TestResolveAndBuildWithCredentials: a repository on 127.0.0.1 that
// requires basic auth (index, keys and packages); the credentials go in
// through the options, win over the environment, and appear in neither the
// lock nor the tree's installed database.
func TestResolveAndBuildWithCredentials(t *testing.T) {
	const secret = "pr1vate-t0ken"
	dir := t.TempDir()
	repo := writeRepo(t, dir, 1, basePackages()...)
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != secret {
			refused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("HTTP_AUTH", "basic:127.0.0.1:ci:wrong-password") // the option wins
	spec := baseSpec(repo, vm.Chainguard)
	spec.Repositories[0].URL = srv.URL + "/"
	spec.Repositories[0].Keys = []string{srv.URL + "/hardvm-test.rsa.pub"}
	creds, err := apk.ParseHTTPAuth("basic:127.0.0.1:ci:" + secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lock, err := image.Resolve(ctx, spec, image.WithResolveCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	root, err := image.Build(ctx, lock, image.WithBuildCredentials(creds), image.WithBuildStagingDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if refused.Load() != 0 {
		t.Fatalf("%d requests refused", refused.Load())
	}
	var tarball bytes.Buffer
	if err := root.WriteTar(ctx, &tarball); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(lock)
	for what, b := range map[string][]byte{"lock": j, "root file system": tarball.Bytes()} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the %s contains the secret", what)
		}
	}

	// The environment's wrong password is used without the option: 401,
	// with a hint and without either password.
	_, err = image.Resolve(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("environment credentials: %v", err)
	}

	// User information in a repository or key URL is refused before
	// anything is fetched.
	for _, bad := range []func(*vm.Spec){
		func(s *vm.Spec) {
			s.Repositories[0].URL = strings.Replace(srv.URL, "http://", "http://ci:"+secret+"@", 1)
		},
		func(s *vm.Spec) {
			s.Repositories[0].Keys = []string{strings.Replace(srv.URL, "http://", "http://ci:"+secret+"@", 1) + "/k.pub"}
		},
	} {
		s := baseSpec(repo, vm.Chainguard)
		s.Repositories[0].URL = srv.URL + "/"
		bad(&s)
		_, err := image.Resolve(ctx, s, image.WithResolveCredentials(creds))
		if !errors.Is(err, apk.ErrCredentialsInURL) || !errors.Is(err, image.ErrResolve) || strings.Contains(err.Error(), secret) {
			t.Fatalf("user info: %v", err)
		}
	}
	if _, err := image.Resolve(ctx, spec, image.WithResolveCredentials(nil)); !errors.Is(err, image.ErrResolve) {
		t.Fatalf("nil credentials: %v", err)
	}
}
