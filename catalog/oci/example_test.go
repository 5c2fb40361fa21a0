package oci_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/catalog/catalogtest"
	"github.com/hardvm/hardvm/catalog/oci"
)

// Publish an image into a registry (here go-containerregistry's, in
// process) and find it again.
func Example() {
	srv := httptest.NewServer(registry.New(registry.Logger(discard())))
	defer srv.Close()
	ctx := context.Background()
	store, err := oci.New(srv.Listener.Addr().String()+"/vm/catalog", oci.WithInsecure())
	if err != nil {
		fmt.Println(err)
		return
	}
	// A fixture entry and its files (a real build comes from hardvm.Build).
	e := catalogtest.NewEntry("nginx/qemu/x86_64/stable", 1, 3)
	dir, _ := os.MkdirTemp("", "release")
	defer os.RemoveAll(dir)
	rel := catalog.Release{Entry: e}
	write := func(name string, d digest.Digest) string {
		b, _ := catalogtest.Content(d)
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	for _, a := range e.Artifacts {
		rel.Artifacts = append(rel.Artifacts, artifact.Artifact{Ref: e.Ref, Format: a.Format, Path: write(a.Name, a.Digest), Size: a.Size, Digest: a.Digest})
	}
	for i, a := range rel.Entry.Attachments {
		rel.Entry.Attachments[i].Path = write(string(a.Kind), a.Digest)
	}
	if _, err := catalog.Publish(ctx, store, rel, catalog.PublishUnverifiedUnsafe()); err != nil {
		fmt.Println(err)
		return
	}
	latest, err := store.Latest(ctx, catalog.Query{Variant: "nginx"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(oci.Tag(latest.Ref), len(latest.Artifacts), "disks")
	// Output:
	// nginx.qemu.x86_64.stable.20261123.010000.0 2 disks
}
