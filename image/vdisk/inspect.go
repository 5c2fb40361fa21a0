package vdisk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hardvm/hardvm/vm"
)

// Info is what [Inspect] read from a disk file's headers.
type Info struct {
	Format      Format `json:"format"`
	VirtualSize int64  `json:"virtual_size"` // bytes the guest sees
	// Subformat is "v2"/"v3" for qcow2, "fixed"/"dynamic" for VHD, the
	// createType for VMDK.
	Subformat string `json:"subformat"`
	// ClusterSize is the qcow2 cluster, VHD block or VMDK grain size in
	// bytes (0 for a fixed VHD).
	ClusterSize int64 `json:"cluster_size,omitempty"`
	// Compressed reports a VMDK with compressed grains.
	Compressed bool `json:"compressed,omitempty"`
	// UUID is the VHD unique ID or the VMDK ddb.uuid, if any.
	UUID string `json:"uuid,omitempty"`
}

// MaxVirtualSize is the largest virtual disk Inspect accepts: 64 TiB.
const MaxVirtualSize = 64 << 40

// maxTable bounds the tables Inspect accepts (L1, refcount table, BAT,
// grain directory): 32 MiB.
const maxTable = 32 << 20

// Inspect reads the headers of a disk file of the given format (qcow2, vhd
// or vmdk; the caller says which, Inspect never guesses) from r, which
// holds size bytes. It reads only headers, descriptors and footers, never
// the data or whole tables, and refuses files that reach beyond
// themselves (backing files, external data files, `json:` names, VMDK
// extents in other files) and headers that contradict each other, the file
// size or sane bounds, with a [*FieldError] naming the field.
func Inspect(r io.ReaderAt, size int64, format Format) (*Info, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative file size %d", ErrInvalid, size)
	}
	switch format {
	case vm.FormatQCOW2:
		return inspectQCOW2(r, size)
	case vm.FormatVHD:
		return inspectVHD(r, size)
	case vm.FormatVMDK:
		return inspectVMDK(r, size)
	}
	return nil, fmt.Errorf("%w: cannot inspect %q (want qcow2, vhd or vmdk)", ErrFormat, format)
}

// readAt reads exactly n bytes at off, which must lie inside size.
func readAt(r io.ReaderAt, size, off int64, n int, f Format, field string) ([]byte, error) {
	if off < 0 || n < 0 || off > size || int64(n) > size-off {
		return nil, fieldErr(f, field, off, ErrInvalid, "%d bytes at offset %d lie beyond the end of the %d-byte file", n, off, size)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil && !(err == io.EOF) {
		return nil, fmt.Errorf("vdisk: %s: read %s at %d: %w", f, field, off, err)
	}
	return b, nil
}

func fieldErr(f Format, field string, off int64, sentinel error, format string, args ...any) error {
	return &FieldError{Format: f, Field: field, Offset: off, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// jsonName reports a file name using qemu's json: pseudo-protocol, which
// can make qemu open anything.
func jsonName(name string) bool { return strings.HasPrefix(strings.TrimSpace(name), "json:") }

func inspectQCOW2(r io.ReaderAt, size int64) (*Info, error) {
	const f = vm.FormatQCOW2
	h, err := readAt(r, size, 0, 104, f, "header")
	if err != nil {
		if size < 72 {
			return nil, err
		}
		h, err = readAt(r, size, 0, 72, f, "header")
		if err != nil {
			return nil, err
		}
		h = append(h, make([]byte, 32)...)
	}
	be := binary.BigEndian
	if be.Uint32(h[0:]) != qcowMagic {
		return nil, fieldErr(f, "magic", 0, ErrInvalid, "%#x is not QFI\\xfb", be.Uint32(h[0:]))
	}
	version := be.Uint32(h[4:])
	if version != 2 && version != 3 {
		return nil, fieldErr(f, "version", 4, ErrUnsupported, "version %d (want 2 or 3)", version)
	}
	if version == 3 && size < 104 {
		return nil, fieldErr(f, "header_length", 100, ErrInvalid, "a version 3 header needs 104 bytes, the file has %d", size)
	}
	if off, n := be.Uint64(h[8:]), be.Uint32(h[16:]); off != 0 || n != 0 {
		name := ""
		if n > 0 && n <= 1023 && off < uint64(size) {
			if b, err := readAt(r, size, int64(off), int(n), f, "backing_file"); err == nil {
				name = string(b)
			}
		}
		if jsonName(name) {
			return nil, fieldErr(f, "backing_file_offset", 8, ErrBackingFile, "backing file with a json: name %q", name)
		}
		return nil, fieldErr(f, "backing_file_offset", 8, ErrBackingFile, "backing file %q (offset %d, %d bytes)", name, off, n)
	}
	bits := be.Uint32(h[20:])
	if bits < 9 || bits > 21 {
		return nil, fieldErr(f, "cluster_bits", 20, ErrInvalid, "cluster_bits %d (want 9-21)", bits)
	}
	cs := int64(1) << bits
	vsize := be.Uint64(h[24:])
	if vsize > MaxVirtualSize {
		return nil, fieldErr(f, "size", 24, ErrTooLarge, "virtual size %d is beyond %d", vsize, int64(MaxVirtualSize))
	}
	if m := be.Uint32(h[32:]); m != 0 {
		return nil, fieldErr(f, "crypt_method", 32, ErrUnsupported, "encrypted (method %d)", m)
	}
	l1Size := int64(be.Uint32(h[36:]))
	l1Off := int64(be.Uint64(h[40:]) & (1<<63 - 1))
	need := (int64(vsize) + cs*(cs/8) - 1) / (cs * (cs / 8))
	if l1Size*8 > maxTable {
		return nil, fieldErr(f, "l1_size", 36, ErrTooLarge, "L1 table of %d entries is beyond %d bytes", l1Size, maxTable)
	}
	if l1Size < need {
		return nil, fieldErr(f, "l1_size", 36, ErrMismatch, "L1 table of %d entries cannot map %d bytes (needs %d)", l1Size, vsize, need)
	}
	if l1Size > 0 && (l1Off%cs != 0 || l1Off < cs || l1Off > size || l1Size*8 > size-l1Off) {
		return nil, fieldErr(f, "l1_table_offset", 40, ErrInvalid, "L1 table at %d (%d entries) is unaligned or beyond the %d-byte file", l1Off, l1Size, size)
	}
	rtOff := int64(be.Uint64(h[48:]) & (1<<63 - 1))
	rtClusters := int64(be.Uint32(h[56:]))
	if rtClusters*cs > maxTable {
		return nil, fieldErr(f, "refcount_table_clusters", 56, ErrTooLarge, "refcount table of %d clusters is beyond %d bytes", rtClusters, maxTable)
	}
	if rtClusters == 0 || rtOff%cs != 0 || rtOff < cs || rtOff > size || rtClusters*cs > size-rtOff {
		return nil, fieldErr(f, "refcount_table_offset", 48, ErrInvalid, "refcount table at %d (%d clusters) is empty, unaligned or beyond the %d-byte file", rtOff, rtClusters, size)
	}
	if n := be.Uint32(h[60:]); n != 0 {
		return nil, fieldErr(f, "nb_snapshots", 60, ErrUnsupported, "%d internal snapshots", n)
	}
	info := &Info{Format: f, VirtualSize: int64(vsize), Subformat: "v" + strconv.Itoa(int(version)), ClusterSize: cs}
	if version == 2 {
		return info, nil
	}
	incompat := be.Uint64(h[72:])
	switch {
	case incompat&(1<<2) != 0:
		return nil, fieldErr(f, "incompatible_features", 72, ErrExternalData, "external data file bit set")
	case incompat&1 != 0:
		return nil, fieldErr(f, "incompatible_features", 72, ErrInvalid, "dirty bit set: refcounts may be wrong")
	case incompat&(1<<1) != 0:
		return nil, fieldErr(f, "incompatible_features", 72, ErrInvalid, "corrupt bit set")
	case incompat&^(1<<3|1<<4) != 0:
		return nil, fieldErr(f, "incompatible_features", 72, ErrUnsupported, "unknown bits %#x", incompat&^(1<<3|1<<4))
	}
	if ac := be.Uint64(h[88:]); ac&(1<<1) != 0 {
		return nil, fieldErr(f, "autoclear_features", 88, ErrExternalData, "raw external data bit set")
	}
	if o := be.Uint32(h[96:]); o > 6 {
		return nil, fieldErr(f, "refcount_order", 96, ErrInvalid, "refcount order %d (want 0-6)", o)
	}
	hlen := int64(be.Uint32(h[100:]))
	if hlen < 104 || hlen%8 != 0 || hlen > cs {
		return nil, fieldErr(f, "header_length", 100, ErrInvalid, "header length %d (want a multiple of 8 from 104 to the cluster size)", hlen)
	}
	// Header extensions follow the header, inside the first cluster.
	for off := hlen; ; {
		if off+8 > cs {
			return nil, fieldErr(f, "header_extension", off, ErrInvalid, "extensions run past the first cluster")
		}
		e, err := readAt(r, size, off, 8, f, "header_extension")
		if err != nil {
			return nil, err
		}
		typ, n := be.Uint32(e[0:]), int64(be.Uint32(e[4:]))
		if typ == 0 {
			break
		}
		switch typ {
		case 0x44415441: // external data file name
			name, _ := readAt(r, size, off+8, int(min(n, 4096)), f, "data_file")
			return nil, fieldErr(f, "header_extension", off, ErrExternalData, "external data file %q", name)
		case 0xe2792aca: // backing file format
			return nil, fieldErr(f, "header_extension", off, ErrBackingFile, "backing file format extension")
		case 0x0537be77: // full disk encryption
			return nil, fieldErr(f, "header_extension", off, ErrUnsupported, "full disk encryption")
		}
		off += 8 + (n+7)/8*8
	}
	return info, nil
}

func inspectVHD(r io.ReaderAt, size int64) (*Info, error) {
	const f = vm.FormatVHD
	if size < vhdFooterSize {
		return nil, fieldErr(f, "footer", 0, ErrInvalid, "a %d-byte file has no footer", size)
	}
	foot, err := readAt(r, size, size-vhdFooterSize, vhdFooterSize, f, "footer")
	if err != nil {
		return nil, err
	}
	fo := size - vhdFooterSize
	be := binary.BigEndian
	if string(foot[:8]) != "conectix" {
		return nil, fieldErr(f, "cookie", fo, ErrInvalid, "footer cookie %q is not conectix", foot[:8])
	}
	if got, want := be.Uint32(foot[64:]), vhdChecksum(foot); got != want {
		return nil, fieldErr(f, "checksum", fo+64, ErrMismatch, "footer checksum %#x, the footer sums to %#x", got, want)
	}
	if v := be.Uint32(foot[12:]); v>>16 != 1 {
		return nil, fieldErr(f, "file_format_version", fo+12, ErrUnsupported, "version %#x", v)
	}
	cur := be.Uint64(foot[48:])
	if cur > vhdMaxSize {
		return nil, fieldErr(f, "current_size", fo+48, ErrTooLarge, "%d bytes is beyond the 2040 GiB a VHD holds", cur)
	}
	info := &Info{Format: f, VirtualSize: int64(cur), UUID: uuidString(foot[68:84])}
	switch typ := be.Uint32(foot[60:]); typ {
	case 2:
		info.Subformat = "fixed"
		if int64(cur) != size-vhdFooterSize {
			return nil, fieldErr(f, "current_size", fo+48, ErrMismatch, "a fixed disk of %d bytes in a %d-byte file", cur, size)
		}
		return info, nil
	case 3:
		info.Subformat = "dynamic"
	case 4:
		return nil, fieldErr(f, "disk_type", fo+60, ErrBackingFile, "differencing disk (has a parent)")
	default:
		return nil, fieldErr(f, "disk_type", fo+60, ErrUnsupported, "disk type %d", typ)
	}
	// A dynamic disk repeats the footer at offset 0 and has a sparse
	// header at data_offset.
	head, err := readAt(r, size, 0, vhdFooterSize, f, "footer_copy")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(head, foot) {
		return nil, fieldErr(f, "footer_copy", 0, ErrMismatch, "the footer copy at offset 0 differs from the footer")
	}
	dOff := int64(be.Uint64(foot[16:]))
	dh, err := readAt(r, size, dOff, 1024, f, "data_offset")
	if err != nil {
		return nil, err
	}
	if string(dh[:8]) != "cxsparse" {
		return nil, fieldErr(f, "data_offset", fo+16, ErrInvalid, "no dynamic header (cxsparse) at %d", dOff)
	}
	var sum uint32
	for i, b := range dh {
		if i < 36 || i >= 40 {
			sum += uint32(b)
		}
	}
	if got := be.Uint32(dh[36:]); got != ^sum {
		return nil, fieldErr(f, "dynamic_checksum", dOff+36, ErrMismatch, "dynamic header checksum %#x, the header sums to %#x", got, ^sum)
	}
	for i := range 8 {
		if pl := dh[576+24*i:]; be.Uint32(pl[0:]) != 0 {
			return nil, fieldErr(f, "parent_locator", dOff+576+int64(24*i), ErrBackingFile, "parent locator %d is set", i)
		}
	}
	if !bytes.Equal(dh[40:56], make([]byte, 16)) {
		return nil, fieldErr(f, "parent_unique_id", dOff+40, ErrBackingFile, "parent unique ID is set")
	}
	bat := int64(be.Uint64(dh[16:]))
	entries := int64(be.Uint32(dh[28:]))
	block := int64(be.Uint32(dh[32:]))
	if block < 512 || block&(block-1) != 0 || block > 256<<20 {
		return nil, fieldErr(f, "block_size", dOff+32, ErrInvalid, "block size %d (want a power of two from 512 to 256 MiB)", block)
	}
	if entries*4 > maxTable {
		return nil, fieldErr(f, "max_table_entries", dOff+28, ErrTooLarge, "a BAT of %d entries is beyond %d bytes", entries, maxTable)
	}
	if entries*block < int64(cur) {
		return nil, fieldErr(f, "max_table_entries", dOff+28, ErrMismatch, "%d blocks of %d bytes cannot hold %d bytes", entries, block, cur)
	}
	if bat < 0 || bat > size || entries*4 > size-bat {
		return nil, fieldErr(f, "table_offset", dOff+16, ErrInvalid, "BAT at %d (%d entries) beyond the %d-byte file", bat, entries, size)
	}
	info.ClusterSize = block
	return info, nil
}

func uuidString(b []byte) string {
	if bytes.Equal(b, make([]byte, len(b))) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// maxDescriptor bounds the embedded VMDK descriptor Inspect reads: 1 MiB.
const maxDescriptor = 1 << 20

func inspectVMDK(r io.ReaderAt, size int64) (*Info, error) {
	const f = vm.FormatVMDK
	h, err := readAt(r, size, 0, 512, f, "header")
	if err != nil {
		if size > 0 {
			if b, err2 := readAt(r, size, 0, int(min(size, 64)), f, "header"); err2 == nil && bytes.HasPrefix(b, []byte("# Disk DescriptorFile")) {
				return nil, fieldErr(f, "header", 0, ErrExternalData, "a descriptor file: its extents are other files")
			}
		}
		return nil, err
	}
	le := binary.LittleEndian
	if le.Uint32(h[0:]) != vmdkMagic {
		if bytes.HasPrefix(h, []byte("# Disk DescriptorFile")) {
			return nil, fieldErr(f, "header", 0, ErrExternalData, "a descriptor file: its extents are other files")
		}
		if le.Uint32(h[0:]) == 0x44574f43 { // "COWD"
			return nil, fieldErr(f, "magic", 0, ErrUnsupported, "ESX COWD sparse extent")
		}
		return nil, fieldErr(f, "magic", 0, ErrInvalid, "%#x is not KDMV", le.Uint32(h[0:]))
	}
	hd, err := vmdkParseHeader(h, 0)
	if err != nil {
		return nil, err
	}
	if hd.gdOffset == vmdkGDAtEnd {
		// streamOptimized: the footer (marker, header copy, EOS) ends the
		// file and carries the real grain directory offset.
		if size < 512*4 {
			return nil, fieldErr(f, "footer", size, ErrInvalid, "the grain directory is at the end but the file has no footer")
		}
		tail, err := readAt(r, size, size-1536, 1536, f, "footer")
		if err != nil {
			return nil, err
		}
		if le.Uint32(tail[12:]) != vmdkMarkerFoot || le.Uint64(tail[0:]) != 1 {
			return nil, fieldErr(f, "footer_marker", size-1536, ErrInvalid, "no footer marker before the footer")
		}
		if !bytes.Equal(tail[1024:], make([]byte, 512)) {
			return nil, fieldErr(f, "eos_marker", size-512, ErrInvalid, "the file does not end with an end-of-stream marker")
		}
		ft, err := vmdkParseHeader(tail[512:1024], size-1024)
		if err != nil {
			return nil, err
		}
		if ft.gdOffset == vmdkGDAtEnd {
			return nil, fieldErr(f, "footer.gdOffset", size-1024+56, ErrInvalid, "the footer does not say where the grain directory is")
		}
		a, b := hd, ft
		a.gdOffset, b.gdOffset = 0, 0
		if a != b {
			return nil, fieldErr(f, "footer", size-1024, ErrMismatch, "the footer contradicts the header (%+v vs %+v)", ft, hd)
		}
		hd.gdOffset = ft.gdOffset
	}
	numGTs := (hd.capacity + hd.grainSize*512 - 1) / (hd.grainSize * 512)
	if numGTs*4 > maxTable {
		return nil, fieldErr(f, "capacity", 12, ErrTooLarge, "a grain directory of %d entries is beyond %d bytes", numGTs, maxTable)
	}
	if hd.gdOffset > uint64(size)/512 || numGTs*4 > uint64(size)-hd.gdOffset*512 {
		return nil, fieldErr(f, "gdOffset", 56, ErrInvalid, "grain directory at sector %d (%d entries) beyond the %d-byte file", hd.gdOffset, numGTs, size)
	}
	info := &Info{Format: f, VirtualSize: int64(hd.capacity) * 512, ClusterSize: int64(hd.grainSize) * 512, Compressed: hd.flags&(1<<16) != 0}
	if hd.descSize == 0 {
		return nil, fieldErr(f, "descriptorSize", 36, ErrInvalid, "no embedded descriptor")
	}
	if hd.descSize > maxDescriptor/512 || hd.descOffset > uint64(size)/512 || hd.descSize*512 > uint64(size)-hd.descOffset*512 {
		return nil, fieldErr(f, "descriptorSize", 36, ErrInvalid, "descriptor of %d sectors at sector %d is oversized or beyond the %d-byte file", hd.descSize, hd.descOffset, size)
	}
	desc, err := readAt(r, size, int64(hd.descOffset)*512, int(hd.descSize)*512, f, "descriptor")
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(desc, 0); i >= 0 {
		desc = desc[:i]
	}
	if err := vmdkCheckDescriptor(string(desc), int64(hd.descOffset)*512, hd.capacity, info); err != nil {
		return nil, err
	}
	return info, nil
}

type vmdkHdr struct {
	version, flags                 uint32
	capacity, grainSize            uint64
	descOffset, descSize, gdOffset uint64
	rgdOffset, overhead            uint64
	gtes                           uint32
	compress                       uint16
}

func vmdkParseHeader(h []byte, base int64) (vmdkHdr, error) {
	const f = vm.FormatVMDK
	le := binary.LittleEndian
	hd := vmdkHdr{
		version: le.Uint32(h[4:]), flags: le.Uint32(h[8:]), capacity: le.Uint64(h[12:]),
		grainSize: le.Uint64(h[20:]), descOffset: le.Uint64(h[28:]), descSize: le.Uint64(h[36:]),
		gtes: le.Uint32(h[44:]), rgdOffset: le.Uint64(h[48:]), gdOffset: le.Uint64(h[56:]),
		overhead: le.Uint64(h[64:]), compress: le.Uint16(h[77:]),
	}
	switch {
	case le.Uint32(h[0:]) != vmdkMagic:
		return hd, fieldErr(f, "magic", base, ErrInvalid, "%#x is not KDMV", le.Uint32(h[0:]))
	case hd.version < 1 || hd.version > 3:
		return hd, fieldErr(f, "version", base+4, ErrUnsupported, "version %d (want 1-3)", hd.version)
	case hd.flags&^(1|1<<1|1<<2|1<<16|1<<17) != 0:
		return hd, fieldErr(f, "flags", base+8, ErrUnsupported, "unknown flags %#x", hd.flags)
	case hd.capacity > MaxVirtualSize/512:
		return hd, fieldErr(f, "capacity", base+12, ErrTooLarge, "%d sectors is beyond %d bytes", hd.capacity, int64(MaxVirtualSize))
	case hd.grainSize < 8 || hd.grainSize > 2048 || hd.grainSize&(hd.grainSize-1) != 0:
		return hd, fieldErr(f, "grainSize", base+20, ErrInvalid, "grain of %d sectors (want a power of two from 8 to 2048)", hd.grainSize)
	case hd.gtes != vmdkGTEntries:
		return hd, fieldErr(f, "numGTEsPerGT", base+44, ErrUnsupported, "%d entries per grain table (want 512)", hd.gtes)
	case hd.compress > 1:
		return hd, fieldErr(f, "compressAlgorithm", base+77, ErrUnsupported, "compression algorithm %d", hd.compress)
	case h[73] != '\n' || h[74] != ' ' || h[75] != '\r' || h[76] != '\n':
		return hd, fieldErr(f, "singleEndLineChar", base+73, ErrInvalid, "the newline test bytes were altered (a file transferred in text mode?)")
	}
	return hd, nil
}

// vmdkCheckDescriptor accepts a descriptor with exactly one SPARSE extent
// in this file, no parent, and a createType of a single-file sparse disk.
func vmdkCheckDescriptor(desc string, off int64, capacity uint64, info *Info) error {
	const f = vm.FormatVMDK
	var extents int
	for line := range strings.Lines(desc) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, isKV := strings.Cut(line, "=")
		key, val = strings.TrimSpace(key), strings.Trim(strings.TrimSpace(val), `"`)
		switch {
		case isKV && key == "parentCID":
			if !strings.EqualFold(val, "ffffffff") {
				return fieldErr(f, "descriptor.parentCID", off, ErrBackingFile, "parent content ID %s", val)
			}
		case isKV && key == "parentFileNameHint":
			return fieldErr(f, "descriptor.parentFileNameHint", off, ErrBackingFile, "parent %q", val)
		case isKV && key == "createType":
			if val != "monolithicSparse" && val != "streamOptimized" {
				return fieldErr(f, "descriptor.createType", off, ErrExternalData, "create type %q keeps data in other files", val)
			}
			info.Subformat = val
		case isKV && key == "ddb.uuid":
			info.UUID = val
		case !isKV && (strings.HasPrefix(line, "RW ") || strings.HasPrefix(line, "RDONLY ") || strings.HasPrefix(line, "NOACCESS ")):
			extents++
			fields := strings.Fields(line)
			name := ""
			if i := strings.IndexByte(line, '"'); i >= 0 {
				name = strings.TrimSuffix(line[i+1:], `"`)
				if j := strings.IndexByte(name, '"'); j >= 0 {
					if strings.TrimSpace(name[j+1:]) != "" {
						return fieldErr(f, "descriptor.extent", off, ErrExternalData, "extent %q has an offset into another file", line)
					}
					name = name[:j]
				}
			}
			if len(fields) < 4 || fields[2] != "SPARSE" {
				return fieldErr(f, "descriptor.extent", off, ErrExternalData, "extent %q is not a SPARSE extent in this file", line)
			}
			if jsonName(name) || strings.ContainsAny(name, "/\\") || name == "" {
				return fieldErr(f, "descriptor.extent", off, ErrExternalData, "extent names another file: %q", name)
			}
			if n, err := strconv.ParseUint(fields[1], 10, 64); err != nil || n != capacity {
				return fieldErr(f, "descriptor.extent", off, ErrMismatch, "extent of %s sectors, the header says %d", fields[1], capacity)
			}
		}
	}
	if extents != 1 {
		return fieldErr(f, "descriptor.extent", off, ErrExternalData, "%d extents (want exactly one, in this file)", extents)
	}
	if info.Subformat == "" {
		return fieldErr(f, "descriptor.createType", off, ErrInvalid, "no createType")
	}
	return nil
}
