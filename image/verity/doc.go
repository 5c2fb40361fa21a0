// Package verity writes and checks dm-verity hash trees exactly as
// `veritysetup format` writes them: a format-1 superblock followed by the
// hash tree, SHA-256 (default) or SHA-512, 4 KiB data and hash blocks, with
// the salt and UUID given by the caller so that the output is reproducible.
//
// [Format] streams the data device through a bounded number of workers (one
// per core by default): the leaf level of the tree, which is 1/128 of the
// data, is split across them and written as it is produced; the levels above
// it are a few kilobytes per gigabyte of data and are hashed in memory. The
// data is never held in memory: each worker holds one chunk of a few MiB.
// Zero blocks are cheap: the hash of a zero block is computed once, holes
// that the data source reports (an *os.File's SEEK_DATA extents, or an
// Extents method) are never read, and a hash block covering only zeros is
// hashed once.
//
// [Verify] recomputes the tree of a data device, compares it with the hash
// device block by block and returns a [*BlockError] naming the first data
// block that does not match, or [ErrRootHash] when only the root differs.
//
// On-disk layout (all integers little-endian), as in cryptsetup's
// lib/verity/verity.c and verity_hash.c:
//
//	offset 0     superblock (512 bytes): "verity\0\0", version 1, hash type 1,
//	             UUID, algorithm name, block sizes, data blocks, salt
//	offset 4096  hash tree, top level first, leaf level last; each hash
//	             block holds hash_block_size/digest_size digests of
//	             H(salt || block), zero padded
//
// The root hash is H(salt || top-level hash block); a device of one data
// block has no tree and its root hash is H(salt || data block).
package verity
