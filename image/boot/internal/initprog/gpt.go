package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Discoverable Partitions Specification type GUIDs of the root file system
// and its verity hash partition, per architecture.
var dpsRootTypes = map[string][2]string{
	"amd64": {"4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"},
	"arm64": {"b921b045-1df0-41c3-af44-4c6f280d3fae", "df3300ce-d69f-4c92-978c-9bfb0f38d820"},
}

// gptEntry is one used GPT partition entry.
type gptEntry struct {
	index int    // 1-based partition number
	typ   string // type GUID, lower case
	uuid  string // unique partition GUID, lower case
	name  string
}

// parseGPT reads the primary GPT of a disk with the given logical sector
// size. It checks bounds, not CRCs: the partitions it finds are only trusted
// once dm-verity has checked them against the root hash.
func parseGPT(r interface {
	ReadAt([]byte, int64) (int, error)
}, sector int64) ([]gptEntry, error) {
	hdr := make([]byte, 92)
	if _, err := r.ReadAt(hdr, sector); err != nil {
		return nil, fmt.Errorf("reading the GPT header: %w", err)
	}
	if !bytes.Equal(hdr[:8], []byte("EFI PART")) {
		return nil, fmt.Errorf("no GPT header")
	}
	lba := int64(binary.LittleEndian.Uint64(hdr[72:]))
	n := binary.LittleEndian.Uint32(hdr[80:])
	size := binary.LittleEndian.Uint32(hdr[84:])
	if n == 0 || n > 1024 || size < 128 || size > 4096 || lba < 2 || lba > 1<<40 {
		return nil, fmt.Errorf("GPT header: %d entries of %d bytes at LBA %d out of range", n, size, lba)
	}
	buf := make([]byte, int(n)*int(size))
	if _, err := r.ReadAt(buf, lba*sector); err != nil {
		return nil, fmt.Errorf("reading the GPT entries: %w", err)
	}
	var out []gptEntry
	for i := 0; i < int(n); i++ {
		e := buf[i*int(size) : (i+1)*int(size)]
		typ := guidString(e[0:16])
		if typ == "00000000-0000-0000-0000-000000000000" {
			continue
		}
		u16 := make([]uint16, 36)
		for j := range u16 {
			u16[j] = binary.LittleEndian.Uint16(e[56+2*j:])
		}
		name := strings.TrimRight(string(utf16.Decode(u16)), "\x00")
		out = append(out, gptEntry{index: i + 1, typ: typ, uuid: guidString(e[16:32]), name: name})
	}
	return out, nil
}

// guidString formats a GUID stored mixed-endian, as GPT stores it.
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]), binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

// findPartitions waits for the disks to appear and returns the device
// paths of the root (data) and root-verity (hash) partitions.
func findPartitions(cfg config, wait time.Duration) (data, hash string, err error) {
	dataUUID, hashUUID := cfg.dataUUID, cfg.hashUUID
	if dataUUID == "" || hashUUID == "" {
		d, h := dpsUUIDs(cfg.rootHash)
		if dataUUID == "" {
			dataUUID = d
		}
		if hashUUID == "" {
			hashUUID = h
		}
	}
	deadline := time.Now().Add(wait)
	var last error
	for {
		data, hash, last = scanDisks(dataUUID, hashUUID)
		if last == nil {
			return data, hash, nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("no root partition found after %v: %w", wait, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scanDisks looks at every whole disk in /sys/class/block. A partition is
// chosen by its UUID; failing that, by the DPS type GUIDs when exactly one
// partition of each type exists.
func scanDisks(dataUUID, hashUUID string) (data, hash string, err error) {
	ents, err := os.ReadDir("/sys/class/block")
	if err != nil {
		return "", "", err
	}
	types := dpsRootTypes[goarch]
	var byType [2][]string
	seen := 0
	for _, e := range ents {
		disk := e.Name()
		sys := filepath.Join("/sys/class/block", disk)
		if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
			continue // a partition, not a disk
		}
		if strings.HasPrefix(disk, "loop") || strings.HasPrefix(disk, "ram") || strings.HasPrefix(disk, "dm-") {
			continue
		}
		sector := int64(512)
		if b, err := os.ReadFile(filepath.Join(sys, "queue", "logical_block_size")); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v >= 512 {
				sector = v
			}
		}
		f, err := os.Open("/dev/" + disk)
		if err != nil {
			continue
		}
		parts, err := parseGPT(f, sector)
		f.Close()
		if err != nil {
			continue
		}
		seen++
		for _, p := range parts {
			dev, err := partitionDevice(disk, p.index)
			if err != nil {
				continue
			}
			switch {
			case p.uuid == dataUUID:
				data = dev
			case p.uuid == hashUUID:
				hash = dev
			}
			for i, t := range types {
				if p.typ == t {
					byType[i] = append(byType[i], dev)
				}
			}
		}
	}
	if data != "" && hash != "" {
		return data, hash, nil
	}
	if len(byType[0]) == 1 && len(byType[1]) == 1 {
		return byType[0][0], byType[1][0], nil
	}
	return "", "", fmt.Errorf("%d GPT disks; no partitions with UUIDs %s and %s, and %d root and %d root-verity partitions by type",
		seen, dataUUID, hashUUID, len(byType[0]), len(byType[1]))
}

// partitionDevice finds the device node of partition n of disk in sysfs.
func partitionDevice(disk string, n int) (string, error) {
	ents, err := os.ReadDir(filepath.Join("/sys/class/block", disk))
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), disk) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/class/block", disk, e.Name(), "partition"))
		if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(n) {
			return "/dev/" + e.Name(), nil
		}
	}
	return "", fmt.Errorf("partition %d of %s not in sysfs", n, disk)
}
