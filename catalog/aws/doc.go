// Package aws publishes hardvm images to Amazon EC2 as AMIs.
//
// By default the raw disk goes into an EBS snapshot through the EBS direct
// APIs (StartSnapshot, PutSnapshotBlock for the non-zero 512 KiB blocks
// only, in parallel, CompleteSnapshot), so holes are never sent. The disk
// is read once, through catalog.OpenArtifact, which hashes it as the blocks
// go: the snapshot is completed only once the digest is verified, and
// deleted otherwise. The AMI is
// then registered with the boot settings hardvm images need: UEFI boot mode,
// ENA, IMDSv2 only, TPM 2.0, an NVMe gp3 root, and the Secure Boot variable
// store when the spec has keys. It is tagged with the image's Ref and
// digest, copied to other regions, shared with accounts, and deprecated
// with EC2's image deprecation time.
//
// EC2 and S3 are called through EC2Client and S3Client, small clients of
// their documented wire formats (EC2's Query API: form-encoded POSTs and
// XML answers; S3's REST API for multipart uploads) for exactly the
// operations the registrar uses, signed with the SDK's SigV4 signer, with
// the SDK's credential chain, retryer and HTTP client from the aws.Config:
// the SDK's EC2 and S3 clients, which cover those whole APIs, added about
// 38 MB and 7 MB to the hardvm binary. EBS uses the SDK's client (about
// 0.1 MB).
//
// Only this package imports the AWS SDK; a program that does not publish
// to AWS does not compile it.
package aws
