package oci_test

import (
	"context"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/catalog/catalogtest"
)

// BenchmarkStage stages a release whose qcow2 artifact is 64 MiB of random
// data in a fresh repository of docker-registry (the registry checks the
// digest of what it receives).
func BenchmarkStage(b *testing.B) {
	host := dockerRegistry(b)
	e := catalogtest.NewEntry("base/qemu/x86_64/stable", 1, 3)
	rel := catalogtest.Release(b, e)
	p, n := catalogtest.SparseDisk(b, 64<<20, 1<<20)
	d := fileDigest(b, p)
	rel.Artifacts[1].Path, rel.Artifacts[1].Digest, rel.Artifacts[1].Size = p, d, n
	rel.Entry.Artifacts[1].Digest, rel.Entry.Artifacts[1].Size = d, n
	ctx := context.Background()
	b.SetBytes(n)
	stop := catalogtest.ReportCPU(b)
	for b.Loop() {
		if err := newStore(b, repo(host)).Stage(ctx, &rel); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// fileDigest returns the digest of the file at p.
func fileDigest(t testing.TB, p string) digest.Digest {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := digest.SHA256.FromReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
