package catalogtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/vm"
)

// Digest returns a deterministic sha256 digest of the parts, for fixtures.
func Digest(parts ...any) string {
	sum := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Base is the epoch of the fixtures' first build: 2026-11-23 00:00:00 UTC.
const Base = int64(1795392000)

// NewEntry returns a valid entry of stream (as vm.Ref.Stream writes it, e.g.
// "base+fips/aws/x86_64/lts") at build n: version Base + n hours, a raw and
// a qcow2 artifact, an SBOM, provenance and bundle, npkg packages whose
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
			{Format: vm.FormatRaw, Name: "disk.raw", Size: 1 << 30, VirtualSize: 1 << 30, Digest: r.Digest},
			{Format: vm.FormatQCOW2, Name: "disk.qcow2", Size: 300 << 20, VirtualSize: 1 << 30, Digest: Digest(stream, n, "qcow2")},
		},
		Kernel:    fmt.Sprintf("6.12.%d-r0", n/10),
		Published: r.Version.Time(),
	}
	for _, k := range []catalog.AttachmentKind{catalog.SBOM, catalog.Provenance, catalog.Bundle} {
		e.Attachments = append(e.Attachments, catalog.Attachment{Kind: k, MediaType: k.DefaultMediaType(), Digest: Digest(stream, n, k), Size: 4096})
	}
	for i := range npkg {
		e.Packages = append(e.Packages, catalog.Package{Name: fmt.Sprintf("pkg%04d", i), Version: fmt.Sprintf("1.%d.%d-r0", i, (n+i)/7)})
		e.InstalledSize += int64(1000 * (i + 1))
	}
	e.Packages = append(e.Packages, catalog.Package{Name: "linux", Version: e.Kernel})
	slices.SortFunc(e.Packages, func(a, b catalog.Package) int { return strings.Compare(a.Name, b.Name) })
	return e
}
