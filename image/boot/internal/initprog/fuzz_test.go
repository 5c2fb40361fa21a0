package main

import (
	"bytes"
	"testing"
)

// The init parses the disk (untrusted until dm-verity checked it) and the
// command line: malformed input is an error, never a panic.
func FuzzParseGPT(f *testing.F) {
	f.Add(make([]byte, 2048))
	hdr := make([]byte, 4096)
	copy(hdr[512:], "EFI PART")
	f.Add(hdr)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseGPT(bytes.NewReader(b), 512)
	})
}

func FuzzParseSuperblock(f *testing.F) {
	sb := make([]byte, 512)
	copy(sb, "verity\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00")
	f.Add(sb)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseSuperblock(b)
	})
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("roothash=" + testHash + " hardvm.verity=check=lazy,data=x init=/sbin/init")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := parseCmdline(s)
		if err == nil {
			d, h := dpsUUIDs(cfg.rootHash)
			if len(d) != 36 || len(h) != 36 {
				t.Fatalf("bad UUIDs %q %q", d, h)
			}
		}
	})
}
