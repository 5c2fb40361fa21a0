package catalogtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// Digest returns the sha256 digest of fmt.Sprint(parts...), for
// fixtures. [Content] returns that content back, so that stores which keep
// blobs (catalog.Stager) can be given real files.
func Digest(parts ...any) digest.Digest {
	b := []byte(fmt.Sprint(parts...))
	d := digest.FromBytes(b)
	contents.Store(d, b)
	return d
}

var contents sync.Map // digest.Digest -> content, of every Digest computed

// Content returns the content whose digest Digest returned.
func Content(d digest.Digest) ([]byte, bool) {
	b, ok := contents.Load(d)
	if !ok {
		return nil, false
	}
	return b.([]byte), true
}

// Release writes the files of a fixture entry (made with NewEntry and
// Digest) into a temporary directory and returns the release.
func Release(t testing.TB, e catalog.Entry) catalog.Release {
	t.Helper()
	dir := t.TempDir()
	r := catalog.Release{Entry: e}
	r.Entry.Attachments = slices.Clone(e.Attachments)
	write := func(name string, d digest.Digest) string {
		b, ok := Content(d)
		if !ok {
			t.Fatalf("catalogtest: no content for %s (%s): make fixture digests with Digest", name, d)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, a := range e.Artifacts {
		r.Artifacts = append(r.Artifacts, artifact.Artifact{Ref: e.Ref, Format: a.Format, Path: write(a.Name, a.Digest), Size: a.Size, VirtualSize: a.VirtualSize, Digest: a.Digest})
	}
	for i, a := range r.Entry.Attachments {
		r.Entry.Attachments[i].Path = write(string(a.Kind), a.Digest)
	}
	return r
}

// size returns the length of a fixture digest's content.
func size(d digest.Digest) int64 {
	b, _ := Content(d)
	return int64(len(b))
}

// Base is the epoch of the fixtures' first build: 2026-11-23 00:00:00 UTC.
const Base = int64(1795392000)

// NewEntry returns a valid entry of stream (as vm.Ref.Stream writes it, e.g.
// "base+fips/aws/x86_64/lts") at build n: version Base + n hours, a raw and
// a qcow2 artifact and an SBOM, provenance and bundle (small files whose
// content [Release] writes), npkg packages whose
// versions move with n, published at the build's epoch. It panics on a
// malformed stream, which is a bug in the calling test.
func NewEntry(stream string, n, npkg int) catalog.Entry {
	r, err := vm.ParseRef(stream + ":" + vm.Version{Epoch: Base + int64(n)*3600}.String())
	if err != nil {
		panic("catalogtest: " + err.Error())
	}
	r.Digest = Digest(stream, n, "raw")
	e := catalog.Entry{
		Ref: r,
		Artifacts: []catalog.Artifact{
			{Format: vm.FormatRaw, Name: "disk.raw", Size: size(r.Digest), VirtualSize: 1 << 30, Digest: r.Digest},
			{Format: vm.FormatQCOW2, Name: "disk.qcow2", VirtualSize: 1 << 30, Digest: Digest(stream, n, "qcow2")},
		},
		Kernel: fmt.Sprintf("6.12.%d-r0", n/10),
		// Artifacts[1].Size is set below, once its digest is recorded.
		Published: r.Version.Time(),
	}
	e.Artifacts[1].Size = size(e.Artifacts[1].Digest)
	for _, k := range []catalog.AttachmentKind{catalog.SBOM, catalog.Provenance, catalog.Bundle} {
		d := Digest(stream, n, k)
		e.Attachments = append(e.Attachments, catalog.Attachment{Kind: k, MediaType: k.DefaultMediaType(), Digest: d, Size: size(d)})
	}
	for i := range npkg {
		e.Packages = append(e.Packages, catalog.Package{Name: fmt.Sprintf("pkg%04d", i), Version: fmt.Sprintf("1.%d.%d-r0", i, (n+i)/7)})
		e.InstalledSize += int64(1000 * (i + 1))
	}
	e.Packages = append(e.Packages, catalog.Package{Name: "linux", Version: e.Kernel})
	slices.SortFunc(e.Packages, func(a, b catalog.Package) int { return strings.Compare(a.Name, b.Name) })
	return e
}
