// Package oci keeps a hardvm catalog in an OCI registry (distribution
// spec v1.1), the store a fleet uses when it outgrows one machine.
//
// Each image is an OCI artifact: an image manifest with artifactType
// application/vnd.hardvm.vm.image.v1, the empty config, the catalog entry as
// its first layer (application/vnd.hardvm.catalog.entry.v1+json) and one
// layer per disk file (application/vnd.hardvm.disk.<format>), annotated
// with the Ref (dev.hardvm.ref, org.opencontainers.image.version, .created).
// Its SBOM, provenance and signature bundle are referrers: artifacts whose
// subject is the image manifest, found through the Referrers API or, on
// registries without it, the referrers tag schema (sha256-<hex> tags),
// which go-containerregistry maintains. A deprecation is a referrer too,
// tagged <tag>.deprecated.
//
// Publishing stages the blobs first ([Store.Stage]: disks, attachments),
// then pushes the image manifest and its referrers by digest, and tags the
// image last: the tag is the catalog entry, so a push that fails at any
// point leaves no entry, only unreferenced blobs the registry's garbage
// collector removes. Tags are immutable by convention: a Ref is never
// re-tagged with other content.
//
// Registries offer no compare-and-swap on tags. Concurrent publishers of
// the same Ref with the same content write identical manifests and agree;
// with different content, one Store serialises its own goroutines and
// reads the tag back after writing it, but two hosts racing within that
// window could both believe they won. Reproducible builds make the second
// case a bug in the build, not a race to arbitrate.
package oci
