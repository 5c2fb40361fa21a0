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
// Register must verify that what it uploads has a.Digest (hashing as it
// streams) and fail otherwise; registering the same artifact of the same
// entry again must succeed. Deregister of a location that is already gone
// succeeds, so that rollbacks can be retried.
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
