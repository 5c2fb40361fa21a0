//go:build !hardvm_nogcp

package main

import (
	"context"
	"fmt"

	"golang.org/x/oauth2/google"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/gcp"
)

func init() { openers["gcp"] = openGCP }

func openGCP(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	// Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS,
	// gcloud's, the metadata server.
	hc, err := google.DefaultClient(ctx, gcp.Scope)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: Google credentials: %w", c.where(), err)
	}
	var opts []gcp.Option
	if len(c.ShareMembers) > 0 {
		opts = append(opts, gcp.WithShareMembers(c.ShareMembers...))
	}
	if len(c.StorageLocations) > 0 {
		opts = append(opts, gcp.WithStorageLocations(c.StorageLocations...))
	}
	r, err := gcp.New(c.Project, c.Bucket, hc, opts...)
	if err != nil {
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, func() {}, nil
}
