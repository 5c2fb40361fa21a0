package main

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// config is what the kernel command line tells the init.
type config struct {
	rootHash  string // lower-case hex
	dataUUID  string // partition UUIDs, lower case; "" to derive
	hashUUID  string
	fullCheck bool
	init      string
}

// parseCmdline reads roothash=, hardvm.verity= and init= from the kernel
// command line. It never falls back: without a valid root hash there is no
// boot.
func parseCmdline(s string) (config, error) {
	cfg := config{fullCheck: true, init: "/sbin/init"}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "roothash":
			cfg.rootHash = strings.ToLower(v)
		case "init":
			cfg.init = v
		case "hardvm.verity":
			for _, kv := range strings.Split(v, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "data":
					cfg.dataUUID = strings.ToLower(v)
				case "hash":
					cfg.hashUUID = strings.ToLower(v)
				case "check":
					switch v {
					case "full":
						cfg.fullCheck = true
					case "lazy":
						cfg.fullCheck = false
					default:
						return cfg, fmt.Errorf("hardvm.verity: check=%q, want full or lazy", v)
					}
				default:
					return cfg, fmt.Errorf("hardvm.verity: unknown option %q", kv)
				}
			}
		}
	}
	if cfg.rootHash == "" {
		return cfg, fmt.Errorf("no roothash= on the kernel command line")
	}
	if b, err := hex.DecodeString(cfg.rootHash); err != nil || len(b) < 32 {
		return cfg, fmt.Errorf("roothash=%q is not a hex digest of at least 32 bytes", cfg.rootHash)
	}
	if !strings.HasPrefix(cfg.init, "/") {
		return cfg, fmt.Errorf("init=%q is not an absolute path", cfg.init)
	}
	return cfg, nil
}

// dpsUUIDs derives the partition UUIDs of the root and its verity partition
// from the root hash, as the Discoverable Partitions Specification says: the
// first 128 bits for the data partition, the last 128 for the hash one.
func dpsUUIDs(rootHash string) (data, hash string) {
	return formatUUID(rootHash[:32]), formatUUID(rootHash[len(rootHash)-32:])
}

func formatUUID(h string) string {
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
