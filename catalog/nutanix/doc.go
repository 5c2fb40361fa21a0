// Package nutanix publishes hardvm images to Nutanix AHV through Prism
// Central's v3 images API, with net/http (there is no well-kept Go SDK).
//
// Register creates the image (POST /api/nutanix/v3/images, a DISK_IMAGE
// with no source URI, its SHA-256 checksum, the image's Ref and digest in
// its description), waits for the task (GET /api/nutanix/v3/tasks/{uuid}),
// then streams the qcow2 or raw file in one PUT
// /api/nutanix/v3/images/{uuid}/file with the X-Nutanix-Checksum headers,
// hashing it on the way (catalog.OpenArtifact): its last bytes are sent
// only once the digest is verified, so an upload of the wrong content never
// completes, and is not retried. The API takes the whole file, so holes are
// skipped by the format: a qcow2 stores none, which is why qcow2 is the
// default. Requests the API documents as retryable (429, 502, 503, 504,
// and network errors on idempotent requests) are retried with backoff; any
// failure after the image was created deletes it. Nutanix images have no
// deprecation, so the Registrar does not implement catalog.Deprecator.
package nutanix
