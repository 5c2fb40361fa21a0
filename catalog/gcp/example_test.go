package gcp_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hardvm/hardvm/catalog/gcp"
	"github.com/hardvm/hardvm/vm"
)

// A registrar for a project and a bucket. The HTTP client carries the
// credentials: in a program, golang.org/x/oauth2/google's
// DefaultClient(ctx, gcp.Scope) (Application Default Credentials).
func ExampleNew() {
	r, err := gcp.New("my-project", "my-images", http.DefaultClient,
		gcp.WithShareMembers("group:ops@example.com"),
		gcp.WithStorageLocations("eu"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Target(), r.Accepts(vm.FormatGCE), r.Accepts(vm.FormatVHD))

	_, err = gcp.New("my-project", "my-images", http.DefaultClient, gcp.WithChunkSize(1000))
	fmt.Println(errors.Is(err, gcp.ErrConfig))
	// Output:
	// gcp true false
	// true
}
