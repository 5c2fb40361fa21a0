package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardvm/hardvm/image/verity"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	addCommand(func(e *env) *cobra.Command {
		return group("verity", "dm-verity hash trees, as veritysetup format and verify", "hardvm verity format --salt - root.erofs root.verity",
			newVerityFormatCmd(e), newVerityVerifyCmd(e))
	})
}

func newVerityFormatCmd(e *env) *cobra.Command {
	return leaf(e, "verity format", "write a dm-verity hash tree and print its root hash", "verity format [--salt HEX] [--hash sha256|sha512] [--uuid UUID] [--json] DATA HASH",
		"hardvm verity format --salt 5e1f... root.erofs root.verity", func(fs *pflag.FlagSet) runFunc {
			saltHex := fs.String("salt", "", "salt in hex, '-' for none (default: 32 random bytes, as veritysetup; give one for reproducible output)")
			algo := fs.String("hash", verity.SHA256, "hash algorithm: sha256 or sha512")
			uuidStr := fs.String("uuid", "", "superblock UUID (default: random)")
			asJSON := fs.Bool("json", false, "print the parameters and root hash as JSON")
			return func(ctx context.Context, args []string) error {
				if fs.NArg() != 2 {
					return usagef("want DATA and HASH files, got %d arguments", fs.NArg())
				}
				p := verity.Params{HashAlgo: *algo}
				switch *saltHex {
				case "-":
				case "":
					p.Salt = make([]byte, 32)
					rand.Read(p.Salt)
				default:
					s, err := hex.DecodeString(*saltHex)
					if err != nil {
						return usagef("--salt: %v", err)
					}
					p.Salt = s
				}
				if *uuidStr == "" {
					rand.Read(p.UUID[:])
					p.UUID[6] = p.UUID[6]&0x0f | 0x40
					p.UUID[8] = p.UUID[8]&0x3f | 0x80
				} else {
					u, err := hex.DecodeString(strings.ReplaceAll(*uuidStr, "-", ""))
					if err != nil || len(u) != 16 {
						return usagef("--uuid: %q is not a UUID", *uuidStr)
					}
					copy(p.UUID[:], u)
				}
				dataPath, hashPath := fs.Arg(0), fs.Arg(1)
				data, err := os.Open(dataPath)
				if err != nil {
					return err
				}
				defer data.Close()
				fi, err := data.Stat()
				if err != nil {
					return err
				}
				// Write the hash device next to its destination and rename it into
				// place once synced, so that a failed run leaves nothing behind.
				tmp, err := os.CreateTemp(filepath.Dir(hashPath), "."+filepath.Base(hashPath)+".tmp-*")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				defer tmp.Close()
				root, err := verity.Format(ctx, data, fi.Size(), tmp, p)
				if err != nil {
					return err
				}
				if err := tmp.Sync(); err != nil {
					return err
				}
				if err := tmp.Close(); err != nil {
					return err
				}
				if err := os.Rename(tmp.Name(), hashPath); err != nil {
					return err
				}
				if *asJSON {
					return writeJSONOut(e.stdout, map[string]any{
						"root_hash":       root.String(),
						"hash_algo":       p.HashAlgo,
						"salt":            hex.EncodeToString(p.Salt),
						"uuid":            uuidText(p.UUID),
						"data_block_size": verity.DefaultBlockSize,
						"hash_block_size": verity.DefaultBlockSize,
						"data_blocks":     fi.Size() / verity.DefaultBlockSize,
					})
				}
				fmt.Fprintln(e.stdout, root)
				return nil
			}
		})
}

func newVerityVerifyCmd(e *env) *cobra.Command {
	return leaf(e, "verity verify", "verify data against a dm-verity hash tree and root hash", "verity verify DATA HASH ROOTHASH",
		"hardvm verity verify root.erofs root.verity 4a5b...", func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, args []string) error {
				if fs.NArg() != 3 {
					return usagef("want DATA, HASH and ROOTHASH, got %d arguments", fs.NArg())
				}
				root, err := verity.ParseRootHash(fs.Arg(2))
				if err != nil {
					return usagef("%v", err)
				}
				data, err := os.Open(fs.Arg(0))
				if err != nil {
					return err
				}
				defer data.Close()
				hash, err := os.Open(fs.Arg(1))
				if err != nil {
					return err
				}
				defer hash.Close()
				if err := verity.Verify(ctx, data, hash, root); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: verified (root hash %s)\n", fs.Arg(0), root)
				return nil
			}
		})
}

func uuidText(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
