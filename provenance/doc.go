// Package provenance makes and checks what proves where an image came from:
// SPDX 2.3 SBOMs, SLSA v1 provenance in in-toto statements, DSSE envelopes in
// Sigstore bundles, and verification policies.
//
// Building documents:
//
//   - [SBOM] turns an [image.Lock] and the build's [image.Artifact] list into
//     an SPDX 2.3 document (spdx/tools-golang types): one package per installed
//     APK with its purl (pkg:apk/<family>/<name>@<version>?arch=...) and the
//     SHA-256 of the .apk, and the image and each disk artifact as packages.
//   - [SLSA] makes the SLSA v1 provenance statement (in-toto attestation Go
//     types) whose subjects are the artifacts.
//
// Same inputs and the same SourceDateEpoch give the same bytes: nothing reads
// the clock, the host paths of artifacts or global randomness.
package provenance
