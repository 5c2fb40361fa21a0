package hardvm

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hardvm/hardvm/image/apk"
)

// A build from a repository that requires basic auth: the credentials given
// with WithCredentials reach resolving and installing (over the
// environment's wrong ones), and no byte of anything the build wrote holds
// the secret.
func TestBuildWithCredentials(t *testing.T) {
	const secret = "s3cret-r3lease-token"
	spec := demoSpec(t, "qemu")
	dir := strings.TrimPrefix(spec.Repositories[0].URL, "file://")
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
	spec.Repositories[0].URL = srv.URL + "/"
	t.Setenv("HTTP_AUTH", "basic:127.0.0.1:ci:wrong-password")

	creds, err := apk.ParseHTTPAuth("basic:127.0.0.1:ci:" + secret)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Build(context.Background(), spec, WithOutputDir(out), WithCredentials(creds)); err != nil {
		t.Fatal(err)
	}
	if n := refused.Load(); n != 0 {
		t.Fatalf("%d requests refused", n)
	}
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Without the option, the environment's wrong password is refused by
	// the server, and the error names neither password.
	_, err = Build(context.Background(), spec, WithOutputDir(filepath.Join(t.TempDir(), "env")))
	if err == nil || strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), secret) {
		t.Fatalf("build with the environment's credentials: %v", err)
	}
	if !errors.Is(err, ErrRelease) {
		t.Errorf("error %v is not ErrRelease", err)
	}
}

func TestCredentialOptionsRefuseNil(t *testing.T) {
	if _, err := applyOptions([]Option{WithCredentials(nil)}); !errors.Is(err, ErrRelease) {
		t.Errorf("WithCredentials(nil): %v", err)
	}
	if _, err := applyOptions([]Option{WithHTTPClient(nil)}); !errors.Is(err, ErrRelease) {
		t.Errorf("WithHTTPClient(nil): %v", err)
	}
}
