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
// EC2 is called through EC2Client, a small client of the documented EC2
// Query API (form-encoded POSTs, XML answers) for exactly the actions the
// registrar uses, signed with the SDK's SigV4 signer, with the SDK's
// credential chain and retryer from the aws.Config: the SDK's EC2 client,
// which covers the whole EC2 API, would add about 38 MB to a program. EBS
// and S3 use the SDK's clients (about 0.1 MB and 3.5 MB).
//
// Only this package imports the AWS SDK; a program that does not publish
// to AWS does not compile it.
package aws
