// Package web serves a hardvm catalog as a web directory, the way people
// choose and audit images: every stream (variant × platform × arch × kernel
// track × FIPS) with its latest image, its age, size, verification state
// and deprecation, filtered by family, variant, platform, arch and FIPS and
// searched by package ("which images contain openssl 3.5.1?"); each
// stream's history as a table and as charts, with each version's delta to
// the previous one and where it is registered; and each version's SBOM,
// SLSA provenance, FIPS report, verity root hash, files and a verification
// result.
//
// A [Handler] is an http.Handler over a [catalog.Store] (catalog/local or
// catalog/oci), given a [Verifier] (a key or trusted root and a
// provenance.Policy) and [Files] (where the disks and attachments the
// entries record can be read: [DirFiles] for directories, [RegistryFiles]
// for the OCI registry a catalog/oci store lives in). The verification
// shown is computed by the server: it reads and hashes every artifact,
// verifies the signed provenance, SBOM and FIPS statements, and checks
// that the catalog's own records (packages, root hash, unsigned copies)
// say what was signed. Nothing is copied from the catalog's claims.
//
// Catalog content is untrusted. Pages are rendered on the server with
// html/template, which escapes every name; they need no JavaScript, and
// the Content-Security-Policy forbids scripts, inline styles and frames.
// The handler is read-only (GET and HEAD), no part of a URL is used as a
// path (files are found by the digest the entry records, inside the
// directories given), and downloads are hashed as they are sent. The same
// data is served as JSON under /api/.
//
//	h, err := web.New(store, web.WithVerifier(v), web.WithFiles(files))
//	go h.Run(ctx) // reload the catalog and verify the latest images periodically
//	http.ListenAndServe("127.0.0.1:8080", h)
package web
