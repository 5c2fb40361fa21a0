package image

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"unicode/utf16"

	"github.com/hardvm/hardvm/image/verity"
	"github.com/hardvm/hardvm/vm"
)

type partKind int

const (
	partESP partKind = iota
	partRoot
	partVerity
	partVar
)

// partitionPlan is one partition Assemble places on the disk.
type partitionPlan struct {
	kind      partKind
	off, size int64
}

// Discoverable Partitions Specification type GUIDs.
var (
	typeESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	typeVar = "4D21B016-B534-45C2-A9FB-5C16E091FD2D"
	// root and root-verity by architecture
	typeRoot = map[vm.Arch][2]string{
		vm.X86_64:  {"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5"},
		vm.Aarch64: {"B921B045-1DF0-41C3-AF44-4C6F280D3FAE", "DF3300CE-D69F-4C92-978C-9BFB0F38D820"},
	}
	dpsSuffix = map[vm.Arch]string{vm.X86_64: "x86-64", vm.Aarch64: "arm64"}
)

const attrReadOnly = 1 << 60 // DPS: mount read-only

// writeTable writes the protective MBR and the primary and backup GPT for
// parts, and fills d.DiskGUID and d.Partitions.
func writeTable(f *os.File, d *Disk, parts []partitionPlan, root verity.RootHash, l resolvedLayout) error {
	sectors := d.Size / 512
	diskGUID := deriveUUID("disk guid", l.seed, l.epoch, root)
	d.DiskGUID = uuidString(diskGUID)
	entries := make([]byte, 128*128)
	for i, p := range parts {
		var typ, name string
		var uuid [16]byte
		var attrs uint64
		switch p.kind {
		case partESP:
			typ, name = typeESP, "esp"
			uuid = deriveUUID("esp partition uuid", l.seed, l.epoch, root)
		case partRoot:
			typ, name, attrs = typeRoot[l.Arch][0], "root-"+dpsSuffix[l.Arch], attrReadOnly
			copy(uuid[:], root[:16]) // DPS: first 128 bits of the root hash
		case partVerity:
			typ, name, attrs = typeRoot[l.Arch][1], "root-"+dpsSuffix[l.Arch]+"-verity", attrReadOnly
			copy(uuid[:], root[len(root)-16:]) // DPS: last 128 bits
		case partVar:
			typ, name = typeVar, "var"
			uuid = deriveUUID("var partition uuid", l.seed, l.epoch, root)
		}
		e := entries[i*128:]
		putGUID(e[0:16], parseGUID(typ))
		putGUID(e[16:32], uuid)
		binary.LittleEndian.PutUint64(e[32:], uint64(p.off/512))
		binary.LittleEndian.PutUint64(e[40:], uint64((p.off+p.size)/512-1))
		binary.LittleEndian.PutUint64(e[48:], attrs)
		for j, c := range utf16.Encode([]rune(name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], c)
		}
		d.Partitions = append(d.Partitions, Partition{Name: name, Type: typ, UUID: strings.ToUpper(uuidString(uuid)), Offset: p.off, Size: p.size})
	}
	entriesCRC := crc32.ChecksumIEEE(entries)
	header := func(cur, backup, entryLBA int64) []byte {
		h := make([]byte, 512)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], uint64(cur))
		binary.LittleEndian.PutUint64(h[32:], uint64(backup))
		binary.LittleEndian.PutUint64(h[40:], 34)
		binary.LittleEndian.PutUint64(h[48:], uint64(sectors-34))
		putGUID(h[56:72], diskGUID)
		binary.LittleEndian.PutUint64(h[72:], uint64(entryLBA))
		binary.LittleEndian.PutUint32(h[80:], 128)
		binary.LittleEndian.PutUint32(h[84:], 128)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
		return h
	}
	mbr := make([]byte, 512)
	pe := mbr[446:]
	pe[1], pe[2], pe[3] = 0x00, 0x02, 0x00
	pe[4] = 0xEE
	pe[5], pe[6], pe[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(pe[8:], 1)
	binary.LittleEndian.PutUint32(pe[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	mbr[510], mbr[511] = 0x55, 0xAA
	for _, w := range []struct {
		b   []byte
		lba int64
	}{
		{mbr, 0},
		{header(1, sectors-1, 2), 1},
		{entries, 2},
		{entries, sectors - 33},
		{header(sectors-1, 1, sectors-33), sectors - 1},
	} {
		if _, err := f.WriteAt(w.b, w.lba*512); err != nil {
			return fmt.Errorf("write GPT: %w", err)
		}
	}
	return nil
}

func parseGUID(s string) [16]byte {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	for i := range 16 {
		fmt.Sscanf(h[2*i:2*i+2], "%02x", &u[i])
	}
	return u
}

// putGUID stores a GUID in GPT's mixed-endian form.
func putGUID(b []byte, u [16]byte) {
	b[0], b[1], b[2], b[3] = u[3], u[2], u[1], u[0]
	b[4], b[5] = u[5], u[4]
	b[6], b[7] = u[7], u[6]
	copy(b[8:], u[8:])
}
