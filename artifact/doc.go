// Package artifact holds the data that crosses hardvm's seams: what a build
// resolved ([Lock], its [Package]s and [Repository]s) and what it produced
// ([Artifact]: one disk file in one format, with its digest and dm-verity
// root hash). Builders write these values, provenance attests them,
// registrars upload them and the catalog records them; none of those needs
// the builder to read them. The package imports only vm and go-digest, so
// programs that publish or browse images compile no image writer.
//
// Digests are [digest.Digest] values ("sha256:<hex>") from
// github.com/opencontainers/go-digest.
package artifact
