package gpt

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hardvm/hardvm/internal/testtool"
)

// rootHash is a SHA-256 dm-verity root hash, as image/verity returns it.
var rootHash, _ = hex.DecodeString("7d1f3bb5e4d5c0c6a08f2ab8e0c1d29e5b0aa1c3f8e2d4b6a9c0e1f2a3b4c5d6")

var diskGUID = mustGUID("a3c1e5f7-0b2d-4e6f-8a1c-3e5f7a9b1d2f")

// layout builds the disk hardvm assembles: ESP, root, root-verity, var.
func layout(t testing.TB, size int64, sectorSize int, arch string) *Table {
	t.Helper()
	tab, err := New(size, sectorSize, diskGUID)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := RootTypesFor(arch)
	if err != nil {
		t.Fatal(err)
	}
	rootUUID, verityUUID, err := VerityPartitionUUIDs(rootHash)
	if err != nil {
		t.Fatal(err)
	}
	add := func(p Partition, size int64) {
		t.Helper()
		p.Attributes |= DefaultAttributes(p.Type)
		if _, err := tab.Add(p, size); err != nil {
			t.Fatal(err)
		}
	}
	add(Partition{Type: TypeESP, UUID: mustGUID("0c0ffee0-1111-4222-8333-444455556666"), Name: "esp"}, 64<<20)
	add(Partition{Type: rt.Root, UUID: rootUUID, Name: "root-" + string(arch)}, 100<<20+4096)
	add(Partition{Type: rt.Verity, UUID: verityUUID, Name: "root-" + string(arch) + "-verity"}, 8<<20)
	add(Partition{Type: TypeVar, UUID: mustGUID("d00dfeed-7777-4888-9999-aaaabbbbcccc"), Name: "var"}, 0)
	return tab
}

func writeDisk(t testing.TB, tab *Table) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(tab.Sectors) * int64(tab.SectorSize)); err != nil {
		t.Fatal(err)
	}
	if err := tab.Write(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return path
}

// view is a partition table as util-linux sees it.
type view struct {
	Label      string     `json:"label"`
	ID         string     `json:"id"`
	FirstLBA   uint64     `json:"firstlba"`
	LastLBA    uint64     `json:"lastlba"`
	SectorSize int        `json:"sectorsize"`
	Partitions []viewPart `json:"partitions"`
}

type viewPart struct {
	Start uint64 `json:"start"`
	Size  uint64 `json:"size"`
	Type  string `json:"type"`
	UUID  string `json:"uuid"`
	Name  string `json:"name"`
	Attrs string `json:"attrs"`
}

// toolView reads a disk image with util-linux: `sfdisk --json` for 512-byte
// sectors (it cannot be told another sector size for a file), `fdisk -b
// 4096 -l` otherwise. fdisk must print no warning either way.
func toolView(t *testing.T, path string, sectorSize int) view {
	t.Helper()
	out := testtool.Run(t, "fdisk", "-b", fmt.Sprint(sectorSize), "-l", "-o", "Start,Sectors,Type-UUID,UUID,Name,Attrs", path)
	for _, bad := range []string{"arning", "orrupt", "ismatch", "nvalid"} {
		if strings.Contains(out, bad) {
			t.Fatalf("fdisk -l complains:\n%s", out)
		}
	}
	if sectorSize == 512 {
		var sf struct {
			PartitionTable view `json:"partitiontable"`
		}
		js := testtool.Run(t, "sfdisk", "--json", path)
		if err := json.Unmarshal([]byte(js), &sf); err != nil {
			t.Fatalf("sfdisk --json: %v\n%s", err, js)
		}
		if sf.PartitionTable.Label != "gpt" || sf.PartitionTable.SectorSize != 512 {
			t.Fatalf("sfdisk --json: %s", js)
		}
		return sf.PartitionTable
	}
	// fdisk prints the usable area only through sfdisk; derive it from the
	// table of a 4096-byte-sector disk: 4 sectors of entries each side.
	var v view
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if id, ok := strings.CutPrefix(l, "Disk identifier: "); ok {
			v.ID = id
		}
		if sz, ok := strings.CutPrefix(l, "Disk "+path+": "); ok {
			var mib, bytes, sectors uint64
			fmt.Sscanf(sz, "%d MiB, %d bytes, %d sectors", &mib, &bytes, &sectors)
			v.FirstLBA, v.LastLBA = 6, sectors-6
		}
		if strings.HasPrefix(strings.TrimSpace(l), "Start") {
			for _, row := range lines[i+1:] {
				f := strings.Fields(row)
				if len(f) < 5 {
					continue
				}
				var p viewPart
				fmt.Sscan(f[0], &p.Start)
				fmt.Sscan(f[1], &p.Size)
				p.Type, p.UUID, p.Name = f[2], f[3], f[4]
				if len(f) > 5 {
					p.Attrs = f[5]
				}
				v.Partitions = append(v.Partitions, p)
			}
			break
		}
	}
	return v
}

func TestWriteCheckedBySgdiskAndSfdisk(t *testing.T) {
	for _, c := range []struct {
		arch       string
		sectorSize int
	}{{"x86_64", 512}, {"aarch64", 512}, {"x86_64", 4096}} {
		t.Run(fmt.Sprintf("%s/%d", c.arch, c.sectorSize), func(t *testing.T) {
			tab := layout(t, 256<<20, c.sectorSize, c.arch)
			path := writeDisk(t, tab)
			if c.sectorSize == 512 {
				// sgdisk reads image files with 512-byte sectors only.
				out := testtool.Run(t, "sgdisk", "-v", path)
				if !strings.Contains(out, "No problems found") {
					t.Fatalf("sgdisk -v:\n%s", out)
				}
			}
			pt := toolView(t, path, c.sectorSize)
			if !strings.EqualFold(pt.ID, diskGUID.String()) || pt.FirstLBA != tab.FirstUsableLBA() || pt.LastLBA != tab.LastUsableLBA() {
				t.Fatalf("the tools see %+v", pt)
			}
			if len(pt.Partitions) != len(tab.Partitions) {
				t.Fatalf("the tools see %d partitions, want %d", len(pt.Partitions), len(tab.Partitions))
			}
			for i, p := range tab.Partitions {
				q := pt.Partitions[i]
				if !strings.EqualFold(q.Type, p.Type.String()) || !strings.EqualFold(q.UUID, p.UUID.String()) ||
					q.Name != p.Name || q.Start != p.FirstLBA || q.Size != p.Sectors() {
					t.Errorf("partition %d: the tools see %+v, we wrote %+v", i+1, q, p)
				}
				if q.Start*uint64(c.sectorSize)%Alignment != 0 {
					t.Errorf("partition %d starts at byte %d, not on a 1 MiB boundary", i+1, q.Start*uint64(c.sectorSize))
				}
				wantAttrs := map[Attributes]string{0: "", AttrReadOnly: "GUID:60", AttrGrowFS: "GUID:59"}[p.Attributes]
				if q.Attrs != wantAttrs {
					t.Errorf("partition %d: attrs %q, want %q", i+1, q.Attrs, wantAttrs)
				}
			}
			// The DPS verity convention, checked against the tool's view:
			// the root's UUID string is the first 32 hex digits of the root
			// hash, the verity partition's the last 32.
			hx := hex.EncodeToString(rootHash)
			dashed := func(h string) string {
				return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
			}
			if !strings.EqualFold(pt.Partitions[1].UUID, dashed(hx[:32])) || !strings.EqualFold(pt.Partitions[2].UUID, dashed(hx[len(hx)-32:])) {
				t.Errorf("root/verity UUIDs %s %s do not follow the root hash %s", pt.Partitions[1].UUID, pt.Partitions[2].UUID, hx)
			}

			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			back, err := Read(f, int64(tab.Sectors)*int64(c.sectorSize), WithSectorSize(c.sectorSize))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(back, tab) {
				t.Fatalf("Read = %+v\nwant %+v", back, tab)
			}
		})
	}
}

// TestReadSgdiskTable reads a table that sgdisk wrote.
func TestReadSgdiskTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(path, 64<<20)
	testtool.Run(t, "sgdisk", "--disk-guid="+diskGUID.String(),
		"-n", "1:2048:+16M", "-t", "1:"+TypeESP.String(), "-c", "1:EFI System", "-u", "1:0c0ffee0-1111-4222-8333-444455556666",
		"-n", "3:0:+20M", "-t", "3:"+TypeRootARM64.String(), "-c", "3:root-aarch64", "-u", "3:7d1f3bb5-e4d5-c0c6-a08f-2ab8e0c1d29e",
		"-A", "3:set:60", path)
	f, _ := os.Open(path)
	defer f.Close()
	tab, err := Read(f, 64<<20)
	if err != nil {
		t.Fatalf("Read of sgdisk's table: %v", err)
	}
	want := []Partition{
		{Number: 1, Type: TypeESP, UUID: mustGUID("0c0ffee0-1111-4222-8333-444455556666"), Name: "EFI System", FirstLBA: 2048, LastLBA: 2048 + 16<<11 - 1},
		{Number: 3, Type: TypeRootARM64, UUID: mustGUID("7d1f3bb5-e4d5-c0c6-a08f-2ab8e0c1d29e"), Name: "root-aarch64", FirstLBA: 2048 + 16<<11, LastLBA: 2048 + 36<<11 - 1, Attributes: AttrReadOnly},
	}
	if tab.DiskGUID != diskGUID || !reflect.DeepEqual(tab.Partitions, want) {
		t.Fatalf("Read = %+v\nwant %+v", tab, want)
	}
}

// TestWriteDeterministic: the same table gives the same bytes (the GPT
// areas at both ends; Write touches nothing else).
func TestWriteDeterministic(t *testing.T) {
	ends := func(path string) []byte {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 2*34*512)
		f.ReadAt(b[:34*512], 0)
		f.ReadAt(b[34*512:], 256<<20-34*512)
		return b
	}
	a := ends(writeDisk(t, layout(t, 256<<20, 512, "x86_64")))
	b := ends(writeDisk(t, layout(t, 256<<20, 512, "x86_64")))
	if !bytes.Equal(a, b) || bytes.Equal(a, make([]byte, len(a))) {
		t.Fatal("two writes of the same table differ")
	}
}

func TestGUID(t *testing.T) {
	g, err := ParseGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	if err != nil || g != TypeRootX86_64 || g.String() != "4f68bce3-e8cd-4db1-96e7-fbcaf984b709" {
		t.Fatalf("ParseGUID = %v, %v", g, err)
	}
	// On disk the first three fields are little-endian (UEFI 2.10 appendix A).
	var b [16]byte
	g.encode(b[:])
	if hex.EncodeToString(b[:]) != "e3bc684fcde8b14d96e7fbcaf984b709" || decodeGUID(b[:]) != g {
		t.Fatalf("on-disk GUID %x", b)
	}
	for _, bad := range []string{"", "4f68bce3e8cd4db196e7fbcaf984b709", "4f68bce3-e8cd-4db1-96e7-fbcaf984b70g", "4f68bce3-e8cd-4db1-96e7+fbcaf984b709"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) accepted", bad)
		}
	}
	var u GUID
	if err := u.UnmarshalText([]byte(TypeVar.String())); err != nil || u != TypeVar {
		t.Fatal(err)
	}
	if _, _, err := VerityPartitionUUIDs(rootHash[:8]); err == nil {
		t.Error("VerityPartitionUUIDs accepted an 8-byte hash")
	}
	if _, _, err := VerityPartitionUUIDs(make([]byte, 32)); err == nil {
		t.Error("VerityPartitionUUIDs accepted a zero hash")
	}
	if _, err := RootTypesFor("riscv64"); err == nil {
		t.Error("RootTypesFor accepted riscv64")
	}
}

func TestAddRejects(t *testing.T) {
	tab, err := New(8<<20, 512, diskGUID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Add(Partition{Type: TypeESP, UUID: diskGUID, Name: strings.Repeat("x", 37)}, 1<<20); err == nil {
		t.Error("Add accepted a 37-character name")
	}
	if _, err := tab.Add(Partition{Type: TypeESP, UUID: diskGUID, Name: "big"}, 8<<20); err == nil {
		t.Error("Add accepted a partition bigger than the disk")
	}
	p, err := tab.Add(Partition{Type: TypeESP, UUID: diskGUID, Name: "héllo wörld ☃"}, 0)
	if err != nil || p.FirstLBA != 2048 || p.LastLBA != tab.LastUsableLBA() {
		t.Fatalf("Add rest of disk = %+v, %v", p, err)
	}
	if _, err := tab.Add(Partition{Type: TypeVar, UUID: TypeVar, Name: "full"}, 512); err == nil {
		t.Error("Add accepted a partition on a full disk")
	}
	for _, c := range []struct {
		size int64
		ss   int
	}{{1000, 512}, {8 << 20, 1024}, {8192, 512}} {
		if _, err := New(c.size, c.ss, diskGUID); err == nil {
			t.Errorf("New(%d, %d) accepted", c.size, c.ss)
		}
	}
	// Write re-checks tables built by hand.
	bad := *tab
	bad.Partitions = append([]Partition{}, tab.Partitions...)
	bad.Partitions = append(bad.Partitions, Partition{Number: 2, Type: TypeVar, UUID: TypeVar, FirstLBA: 4000, LastLBA: 5000})
	if err := bad.Write(context.Background(), &memDisk{}); err == nil {
		t.Error("Write accepted overlapping partitions")
	}
}

// memDisk is an in-memory io.WriterAt / io.ReaderAt disk.
type memDisk struct{ b []byte }

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func TestSgdiskFlagsMatchOurs(t *testing.T) {
	// sgdisk -i shows the attribute bits by name: read-only is bit 60.
	tab := layout(t, 256<<20, 512, "x86_64")
	path := writeDisk(t, tab)
	out, err := exec.Command("sgdisk", "-i", "2", path).CombinedOutput()
	if err != nil {
		t.Fatalf("sgdisk -i 2: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "1000000000000000") || !strings.Contains(strings.ToUpper(string(out)), strings.ToUpper(TypeRootX86_64.String())) {
		t.Fatalf("sgdisk -i 2 does not show the root type and read-only bit:\n%s", out)
	}
}
