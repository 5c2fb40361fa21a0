// Package gcp publishes hardvm images to Google Compute Engine.
//
// The artifact is the GCE format: a file named disk.raw, in an oldgnu
// sparse tar, gzip-compressed, of a whole number of GiB. It is streamed to
// Cloud Storage in one pass (a resumable upload of the JSON API, in chunks
// retried from the offset the server committed; the SHA-256 digest checked
// by catalog.OpenArtifact before the upload is finalized; the object's
// size and CRC32C then checked against the bytes sent), then an
// image is created from it with images.insert: UEFI_COMPATIBLE and the
// other guest OS features hardvm images support, the image family of its
// stream, labels naming its Ref and digest, the Secure Boot db certificate
// as shieldedInstanceInitialState when the spec has one. Deprecation uses
// images.deprecate with the replacement image.
//
// The package speaks the two REST APIs directly with net/http and
// encoding/json (no Google Cloud SDK: those link gRPC, xDS and
// OpenTelemetry, about 43 MB of the hardvm binary, for the dozen calls made
// here). Credentials come with the *http.Client given to [New], usually
// golang.org/x/oauth2/google's DefaultClient. Responses are read bounded
// (4 MiB); an error answer is an [*APIError]; requests that may be repeated
// (GETs, DELETEs, and mutations carrying a Compute Engine requestId) are
// retried on 408, 429 and 5xx answers with truncated exponential backoff.
package gcp
