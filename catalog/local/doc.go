// Package local keeps a hardvm catalog in a directory, and registers images
// by copying them into a content-addressed directory.
//
// The [Store] is the embedded default catalog. Its directory holds
//
//	index                    every entry's summary, one JSON line each, with a checksum trailer
//	entries/sha256-<hex>.json  each entry, named by the digest of its content
//	lock                     the file writers lock (flock) while they write
//
// A write takes the lock, writes the new entry file, then writes a new index
// beside the old one and renames it over it (both fsynced). So a writer
// killed at any point leaves the old catalog or the new one, never half of
// one, and any number of writers (goroutines or processes) may share the
// directory. Readers take no lock: they read whichever index is in place and
// keep it in memory until it is replaced.
//
// The entry files are the truth and the index is derived from them: a
// missing index is rebuilt from them by the next read or write (with a
// warning in the log); an unreadable one makes reads and writes fail until
// [Store.Repair] rebuilds it, which never drops an entry. The next write
// removes the temporary files a killed writer left.
//
// The [Registrar] copies artifacts into blobs/sha256/<hex> (verifying their
// digest as it copies) and hard-links them as images/<stream>/<version>/<name>
// for KVM hosts to boot from; deregistering removes the link and the blob
// once no image links it. A copy is made in blobs/sha256/.tmp-* and kept
// flock'ed by its writer until it is linked; a copy nobody holds locked is
// a killed writer's, and the next registration (or [Registrar.Reclaim])
// removes it.
package local
