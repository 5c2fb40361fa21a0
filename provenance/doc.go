// Package provenance makes and checks what proves where an image came from:
// SPDX 2.3 SBOMs, SLSA v1 provenance in in-toto statements, DSSE envelopes in
// Sigstore bundles, and verification policies.
//
// Building documents:
//
//   - [SBOM] turns an [artifact.Lock] and the build's [artifact.Artifact] list into
//     an SPDX 2.3 document (spdx/tools-golang types): one package per installed
//     APK with its purl (pkg:apk/<family>/<name>@<version>?arch=...) and the
//     SHA-256 of the .apk, and the image and each disk artifact as packages.
//   - [SLSA] makes the SLSA v1 provenance statement (in-toto attestation Go
//     types) whose subjects are the artifacts.
//   - [SBOMStatement] and [FIPSStatement] wrap an SBOM and a fips.Report as
//     in-toto statements about the same artifacts, so they are signed too.
//
// Same inputs and the same SourceDateEpoch give the same bytes: nothing reads
// the clock, the host paths of artifacts or global randomness.
//
// Signing: a [Signer] signs a statement into a DSSE envelope inside a
// Sigstore bundle (v0.3 media type), either with a key pair held offline
// (ECDSA P-256 by default, from a PEM file or generated) or keyless with a
// Fulcio certificate, a Rekor entry and RFC 3161 timestamps when their URLs
// are configured. Bundles are what cosign verify-blob-attestation reads.
//
// Verification: [Verify] checks one artifact against one bundle under a
// [Policy] with the [TrustedMaterial] to check signatures against. A policy
// is safe by default; every option that weakens it ends in Unsafe. The
// returned [Result] lists every rule evaluated, and a failure is an error in
// the tree rooted at [ErrVerification].
//
// The provenance of a build binds its whole lock ([LockDigest], checked
// with [CheckLock]) and names the kernel the image boots ([WithKernel]):
// [ReadBuildParameters] reads them back, so that a build is known from its
// signed statements alone. The build output directory, which holds these
// documents beside the disks, is owned by package builddir.
package provenance
