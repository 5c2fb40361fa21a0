// Package catalog records published images: where each build is
// registered, which is the latest of its stream, what changed between two
// builds and which are deprecated.
//
// Images are never upgraded in place: a fleet replaces its nodes with the
// newest image, and the catalog is how it finds that image. A [Store] keeps
// [Entry] values (the local directory store in catalog/local, an OCI
// registry in catalog/oci); [Query] selects them, [Diff] compares two of
// them, and [Publish] is the only way in for a new build: it verifies the
// build first, then registers it on every target through its [Registrar]s,
// and records the entry last, so a failure leaves nothing half-published.
// [PlanFleet] feeds the catalog's latest images and deltas into
// [vm.Plan].
//
// Registrars read artifacts one way: [OpenArtifact] opens an artifact's
// file and hands it out as a stream ([ArtifactFile.Reader]) or as chunks
// sent in parallel that skip holes ([ArtifactFile.Chunks]); both hash
// every byte they hand out, so the bytes uploaded are the bytes hashed,
// and neither lets an upload of a file with the wrong digest complete. A
// target that refuses an artifact says so with an [*ArtifactError], which
// is an [ErrRejected] whichever the target.
package catalog
