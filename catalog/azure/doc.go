// Package azure publishes hardvm images to Azure as Compute Gallery image
// versions.
//
// The fixed VHD is uploaded as a page blob (the Blob service's REST calls
// Put Blob and Put Page, sent through azcore's pipeline by [Container], a
// SAS URL authenticating them; the SAS never appears in a URI, log line or
// error of this package): pages of up to
// 4 MiB, 512-byte aligned, in parallel, and only the ones holding data:
// the file's holes (SEEK_DATA) and its all-zero pages are never sent, since
// an unwritten page of a page blob reads as zeros. The gallery image
// definition is then created or updated as Hyper-V generation 2 (UEFI) with
// the Trusted Launch security type, and an image version is created from
// the blob through the Azure Resource Manager API (armcompute), tagged with
// the image's Ref and digest and replicated to the target regions.
// Deprecation sets excludeFromLatest and the version's end-of-life date.
//
// Before anything is uploaded the artifact is checked against Azure's
// rules ([vm.LookupPlatform]): a fixed VHD (its 512-byte footer is read
// and checked here: cookie "conectix", disk type 2, checksum, sizes) whose
// virtual size is a multiple of 1 MiB. The file is read through
// catalog.OpenArtifact, which hashes it as the pages go: the last chunk
// (with the footer) is written, and the image version created, only once
// the digest is verified; otherwise the blob is deleted.
//
// Only this package imports the Azure SDK (azcore and armcompute; not
// azblob, which links Apache Arrow for three REST calls); a program that
// does not publish to Azure does not compile it.
package azure
