package catalog

import (
	"context"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/vm"
)

// Registrar makes an artifact available on one target (a cloud, a
// registry, a hypervisor) and removes it. [catalogtest.RunRegistrar]
// checks an implementation.
//
// Register reads the artifact through [OpenArtifact], which verifies that
// what it uploads has a.Digest as it streams; it commits nothing on the
// target before the digest is verified, and refuses an artifact whose file
// does not have its digest, or that breaks a rule of the target, with an
// [*ArtifactError] ([ErrRejected]), leaving nothing of it registered.
// Registering the same artifact of the same entry again must succeed.
// Deregister of a location that is already gone succeeds, so that
// rollbacks can be retried.
type Registrar interface {
	Target() vm.Cloud
	Register(ctx context.Context, a artifact.Artifact, e Entry) (Location, error)
	Deregister(ctx context.Context, loc Location) error
}

// FormatAccepter is implemented by registrars that choose which disk
// formats they register. Without it, a registrar gets the artifacts whose
// format its target platform accepts (vm.Platform.Accepts).
type FormatAccepter interface {
	Accepts(f vm.DiskFormat) bool
}

// Deprecator is implemented by registrars that can deprecate an image on
// their side (a cloud's image deprecation, a registry annotation).
type Deprecator interface {
	Deprecate(ctx context.Context, loc Location, d Deprecation) error
}
