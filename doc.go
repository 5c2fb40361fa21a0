// Package hardvm builds, verifies and publishes minimal, hardened, immutable
// virtual-machine images, the way vendors ship hardened containers: a
// minimal APK-based OS updated continuously, with an SBOM and SLSA
// provenance for every artifact, published to clouds and hypervisors, and
// rolled out by replacing nodes rather than upgrading them in place.
//
// A program composes the pipeline from the packages below, each step taking
// a value from the step before:
//
//	vm          what an image is: variants, platforms, specs, refs, node replacement plans
//	image       spec → lock → rootfs → disk → artifacts (image/apk, image/verity, image/gpt, image/vdisk)
//	provenance  SPDX SBOMs, SLSA v1 provenance, Sigstore bundles, verification policies
//	fips        kernel-independent FIPS, checked from an image's own files
//	catalog     published images: stores, queries, deltas, deprecation, registrars per target
//	builddir    the build output directory: its layout, writing it, verifying it, reading it back
//
// [Build] turns a validated spec into one plan, then runs its steps into a
// build directory; [Publish] publishes such a directory, here or from a
// copy on another machine, verified from the directory alone with the
// trusted material the caller gives; [Release] is both.
//
// Same inputs and the same SourceDateEpoch give bit-identical disks, SBOMs
// and digests.
package hardvm
