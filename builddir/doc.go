// Package builddir owns the directory a hardvm build writes, the way
// go-containerregistry's layout package owns an OCI image layout: the names
// of its files, writing them, and reading and verifying them back. A build
// made on one machine is verified and published on another from a copy of
// its directory alone.
//
// A build directory holds:
//
//	disk.raw, disk.qcow2, …               the disks, one per format ([DiskFile]), raw first
//	lock.json                             the lock: every package, exactly ([LockFile])
//	sbom.spdx.json                        the SPDX SBOM, for people ([SBOMFile])
//	provenance.intoto.json                the SLSA provenance, for people ([ProvenanceFile])
//	disk.raw.sigstore.json, …             the signed provenance, one copy per disk ([BundleFile])
//	sbom.sigstore.json                    the signed SBOM statement ([SBOMBundle])
//	fips-report.json, fips.sigstore.json  the FIPS report and its signed statement, with fips: true
//	key.pub                               the public key of a key-signed build ([PublicKeyFile])
//
// [Write] writes everything but the disks. [Verify] checks every disk
// against its signed statements under a policy, the unsigned copies for
// people against the signed statements, and lock.json against the lock the
// signed provenance attests (provenance.CheckLock). [Open] verifies, then
// reads the build as its signed statements state it: the image's identity
// (its ref), its disks and whether they boot come from the signed
// provenance, never from an unsigned file.
package builddir
