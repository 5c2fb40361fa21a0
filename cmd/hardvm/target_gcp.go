//go:build !hardvm_nogcp

package main

import (
	"context"
	"fmt"

	"cloud.google.com/go/storage"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/gcp"
	"google.golang.org/api/compute/v1"
)

func init() { openers["gcp"] = openGCP }

func openGCP(ctx context.Context, c *targetConfig) (catalog.Registrar, func(), error) {
	// Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS,
	// gcloud's, the metadata server.
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: Cloud Storage client: %w", c.where(), err)
	}
	svc, err := compute.NewService(ctx)
	if err != nil {
		gcs.Close()
		return nil, nil, fmt.Errorf("%s: Compute client: %w", c.where(), err)
	}
	var opts []gcp.Option
	if len(c.ShareMembers) > 0 {
		opts = append(opts, gcp.WithShareMembers(c.ShareMembers...))
	}
	if len(c.StorageLocations) > 0 {
		opts = append(opts, gcp.WithStorageLocations(c.StorageLocations...))
	}
	r, err := gcp.New(c.Project, c.Bucket, gcs, svc, opts...)
	if err != nil {
		gcs.Close()
		return nil, nil, usagef("%s: %v", c.where(), err)
	}
	return r, func() { gcs.Close() }, nil
}
