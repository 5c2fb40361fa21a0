package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/web"
)

// A handler over a catalog: the directory as JSON, as a script reads it.
// (A real server adds web.WithVerifier and web.WithFiles, runs h.Run in the
// background, and listens on 127.0.0.1.)
func Example() {
	store := catalogtest.NewMemStore()
	for n := range 3 {
		store.Put(context.Background(), catalogtest.NewEntry("nginx/aws/x86_64/stable", n, 2))
	}
	store.Put(context.Background(), catalogtest.NewEntry("base+fips/gcp/aarch64/lts", 0, 2))

	h, err := web.New(store, web.WithClock(func() time.Time { return time.Unix(catalogtest.Base+86400, 0) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/streams?platform=aws", nil))
	var streams []web.StreamJSON
	json.Unmarshal(w.Body.Bytes(), &streams)
	for _, s := range streams {
		fmt.Println(s.Stream, s.Latest.Version, s.Versions, "versions,", s.Verification)
	}
	fmt.Println(w.Header().Get("Content-Security-Policy"))
	// Output:
	// nginx/aws/x86_64/stable 20261123.020000.0 3 versions, unchecked
	// default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
}
