// Package gcp publishes hardvm images to Google Compute Engine.
//
// The artifact is the GCE format: a file named disk.raw, in an oldgnu
// sparse tar, gzip-compressed, of a whole number of GiB. It is streamed to
// Cloud Storage in one pass (resumable upload, CRC32C checked by the
// server; the SHA-256 digest checked by catalog.OpenArtifact before the
// upload is finalized), then an
// image is created from it with images.insert: UEFI_COMPATIBLE and the
// other guest OS features hardvm images support, the image family of its
// stream, labels naming its Ref and digest, the Secure Boot db certificate
// as shieldedInstanceInitialState when the spec has one. Deprecation uses
// images.deprecate with the replacement image.
//
// Only this package imports the Google Cloud SDKs.
package gcp
