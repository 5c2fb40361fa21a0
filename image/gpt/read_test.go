package gpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// smallDisk returns a valid 4 MiB disk image (512-byte sectors) with three
// partitions, in memory.
func smallDisk(t testing.TB) []byte {
	t.Helper()
	tab, err := New(4<<20, 512, diskGUID)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"esp", "root", "var"} {
		u := diskGUID
		u[15] = byte(i + 1)
		if _, err := tab.Add(Partition{Type: TypeLinuxData, UUID: u, Name: name}, 512<<10); err != nil {
			t.Fatal(err)
		}
	}
	d := &memDisk{b: make([]byte, 4<<20)}
	if err := tab.Write(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d.b
}

const (
	lastLBA    = 4<<20/512 - 1
	backupLBA  = lastLBA
	backupArr  = lastLBA - 32
	sectorSize = 512
)

func sectorOf(img []byte, lba int) []byte { return img[lba*sectorSize : (lba+1)*sectorSize] }

// fixHeader recomputes the CRC of the header at lba.
func fixHeader(img []byte, lba int) {
	h := sectorOf(img, lba)
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:headerSize]))
}

// patchHeaders applies f to both headers and fixes their CRCs, so that the
// check under test is the one that fires.
func patchHeaders(img []byte, f func(h []byte)) {
	for _, lba := range []int{1, backupLBA} {
		f(sectorOf(img, lba))
		fixHeader(img, lba)
	}
}

// patchEntries applies f to both entry arrays and fixes the array and
// header CRCs.
func patchEntries(img []byte, f func(arr []byte)) {
	for _, c := range []struct{ hdr, arr int }{{1, 2}, {backupLBA, backupArr}} {
		arr := img[c.arr*sectorSize : c.arr*sectorSize+128*128]
		f(arr)
		binary.LittleEndian.PutUint32(sectorOf(img, c.hdr)[88:], crc32.ChecksumIEEE(arr))
		fixHeader(img, c.hdr)
	}
}

func u32(off int, v uint32) func([]byte) {
	return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
}

func u64(off int, v uint64) func([]byte) {
	return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
}

func TestReadValid(t *testing.T) {
	img := smallDisk(t)
	tab, err := Read(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Partitions) != 3 || tab.Partitions[1].Name != "root" || tab.Partitions[1].FirstLBA != 4096 {
		t.Fatalf("Read = %+v", tab)
	}
}

// TestReadRejects breaks one thing at a time in a valid image; each must
// be rejected with the sentinel and field that name it.
func TestReadRejects(t *testing.T) {
	entry := func(i, off int, f func([]byte)) func([]byte) {
		return func(arr []byte) { f(arr[i*128+off:]) }
	}
	cases := []struct {
		name  string
		mut   func(img []byte)
		size  int64 // 0: the image's
		err   error
		where string
		field string
	}{
		{"mbr signature", func(img []byte) { img[510] = 0 }, 0, ErrMBR, "mbr", "Signature"},
		{"no protective partition", func(img []byte) { img[446+4] = 0x83 }, 0, ErrMBR, "mbr", "OSType"},
		{"protective partition not at LBA 1", func(img []byte) { u32(446+8, 2)(img) }, 0, ErrMBR, "mbr", "partition 1 StartingLBA"},
		{"header signature", func(img []byte) { patchHeaders(img, func(h []byte) { h[0] = 'X' }) }, 0, ErrSignature, "primary header", "Signature"},
		{"header revision", func(img []byte) { patchHeaders(img, u32(8, 0x00020000)) }, 0, ErrSignature, "primary header", "Revision"},
		{"header too small", func(img []byte) { patchHeaders(img, u32(12, 91)) }, 0, ErrSignature, "primary header", "HeaderSize"},
		{"header bigger than a sector", func(img []byte) { patchHeaders(img, u32(12, 513)) }, 0, ErrSignature, "primary header", "HeaderSize"},
		{"header CRC", func(img []byte) { sectorOf(img, 1)[60] ^= 1 }, 0, ErrCRC, "primary header", "HeaderCRC32"},
		{"MyLBA", func(img []byte) { patchHeaders(img, u64(24, 7)) }, 0, ErrBounds, "primary header", "MyLBA"},
		{"AlternateLBA past the disk", func(img []byte) { patchHeaders(img, u64(32, lastLBA+1)) }, 0, ErrBounds, "primary header", "AlternateLBA"},
		{"AlternateLBA is the primary", func(img []byte) {
			u64(32, 1)(sectorOf(img, 1))
			fixHeader(img, 1)
		}, 0, ErrBounds, "primary header", "AlternateLBA"},
		{"AlternateLBA in the usable area", func(img []byte) {
			u64(32, 5000)(sectorOf(img, 1))
			fixHeader(img, 1)
		}, 0, ErrOverlap, "primary header", "AlternateLBA"},
		{"FirstUsableLBA past the disk", func(img []byte) { patchHeaders(img, u64(40, lastLBA+5)) }, 0, ErrBounds, "primary header", "FirstUsableLBA"},
		{"LastUsableLBA before FirstUsableLBA", func(img []byte) { patchHeaders(img, u64(48, 20)) }, 0, ErrBounds, "primary header", "LastUsableLBA"},
		{"LastUsableLBA past the disk", func(img []byte) { patchHeaders(img, u64(48, lastLBA+1)) }, 0, ErrBounds, "primary header", "LastUsableLBA"},
		{"entry size too small", func(img []byte) { patchHeaders(img, u32(84, 64)) }, 0, ErrEntries, "primary header", "SizeOfPartitionEntry"},
		{"entry size not a power of two", func(img []byte) { patchHeaders(img, u32(84, 192)) }, 0, ErrEntries, "primary header", "SizeOfPartitionEntry"},
		{"entry size huge", func(img []byte) { patchHeaders(img, u32(84, 1<<20)) }, 0, ErrEntries, "primary header", "SizeOfPartitionEntry"},
		{"no entries", func(img []byte) { patchHeaders(img, u32(80, 0)) }, 0, ErrEntries, "primary header", "NumberOfPartitionEntries"},
		{"too many entries", func(img []byte) { patchHeaders(img, u32(80, 1<<24)) }, 0, ErrEntries, "primary header", "NumberOfPartitionEntries"},
		{"entry array past the disk", func(img []byte) { patchHeaders(img, u64(72, lastLBA-3)) }, 0, ErrBounds, "primary header", "PartitionEntryLBA"},
		{"entry array in the usable area", func(img []byte) { patchHeaders(img, u64(72, 2040)) }, 0, ErrOverlap, "primary header", "PartitionEntryLBA"},
		{"entry array over the header", func(img []byte) {
			u64(72, 1)(sectorOf(img, 1))
			fixHeader(img, 1)
		}, 0, ErrOverlap, "primary header", "PartitionEntryLBA"},
		{"entry array CRC", func(img []byte) { img[2*512+40] ^= 1 }, 0, ErrCRC, "primary entries", "PartitionEntryArrayCRC32"},
		{"partition before the usable area", func(img []byte) { patchEntries(img, entry(0, 32, u64(0, 10))) }, 0, ErrBounds, "entry 1", "StartingLBA"},
		{"partition past the usable area", func(img []byte) { patchEntries(img, entry(2, 40, u64(0, lastLBA-10))) }, 0, ErrBounds, "entry 3", "EndingLBA"},
		{"partition ends before it starts", func(img []byte) { patchEntries(img, entry(1, 40, u64(0, 100))) }, 0, ErrBounds, "entry 2", "EndingLBA"},
		{"partitions overlap", func(img []byte) { patchEntries(img, entry(1, 32, u64(0, 2048+1000))) }, 0, ErrOverlap, "entry 2", "StartingLBA"},
		{"duplicate partition GUID", func(img []byte) {
			patchEntries(img, func(arr []byte) { copy(arr[2*128+16:2*128+32], arr[0*128+16:0*128+32]) })
		}, 0, ErrDuplicate, "entry 3", "UniquePartitionGUID"},
		{"zero partition GUID", func(img []byte) { patchEntries(img, entry(1, 16, func(b []byte) { clear(b[:16]) })) }, 0, ErrDuplicate, "entry 2", "UniquePartitionGUID"},
		{"backup header missing", func(img []byte) { clear(sectorOf(img, backupLBA)) }, 0, ErrSignature, "backup header", "Signature"},
		{"backup header CRC", func(img []byte) { sectorOf(img, backupLBA)[60] ^= 1 }, 0, ErrCRC, "backup header", "HeaderCRC32"},
		{"backup disk GUID", func(img []byte) {
			sectorOf(img, backupLBA)[56] ^= 1
			fixHeader(img, backupLBA)
		}, 0, ErrBackup, "backup header", "DiskGUID"},
		{"backup AlternateLBA", func(img []byte) {
			u64(32, 2)(sectorOf(img, backupLBA))
			fixHeader(img, backupLBA)
		}, 0, ErrBackup, "backup header", "AlternateLBA"},
		{"backup entries differ", func(img []byte) {
			arr := img[backupArr*512 : backupArr*512+128*128]
			arr[56] = 'X' // rename partition 1 in the backup only
			binary.LittleEndian.PutUint32(sectorOf(img, backupLBA)[88:], crc32.ChecksumIEEE(arr))
			fixHeader(img, backupLBA)
		}, 0, ErrBackup, "backup header", "PartitionEntryArrayCRC32"},
		{"backup entry array CRC", func(img []byte) { img[backupArr*512+40] ^= 1 }, 0, ErrCRC, "backup entries", "PartitionEntryArrayCRC32"},
		{"backup entry array in the usable area", func(img []byte) {
			u64(72, 5000)(sectorOf(img, backupLBA))
			fixHeader(img, backupLBA)
		}, 0, ErrOverlap, "backup header", "PartitionEntryLBA"},
		{"disk truncated", func([]byte) {}, 2 << 20, ErrBounds, "primary header", "AlternateLBA"},
		{"disk too small", func([]byte) {}, 1024, ErrBounds, "disk", "Size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := smallDisk(t)
			c.mut(img)
			size := c.size
			if size == 0 {
				size = int64(len(img))
			}
			_, err := Read(bytes.NewReader(img[:size]), size)
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, c.err) || !errors.Is(err, ErrInvalid) || fe.Where != c.where || fe.Field != c.field {
				t.Fatalf("Read = %v\nwant %v at %s %s", err, c.err, c.where, c.field)
			}
			if !strings.HasPrefix(err.Error(), "gpt: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestReadShortDevice(t *testing.T) {
	img := smallDisk(t)
	// The reader ends before the size the caller claims.
	if _, err := Read(bytes.NewReader(img[:1<<20]), int64(len(img))); err == nil {
		t.Fatal("Read accepted a device shorter than its size")
	}
	if _, err := Read(bytes.NewReader(img), int64(len(img)), WithSectorSize(1024)); !errors.Is(err, ErrLayout) {
		t.Fatalf("WithSectorSize(1024) = %v", err)
	}
	// A 512-byte-sector table read as 4096-byte sectors has no header.
	if _, err := Read(bytes.NewReader(img), int64(len(img)), WithSectorSize(4096)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Read with the wrong sector size = %v", err)
	}
}
