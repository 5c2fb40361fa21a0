package gpt

import (
	"bytes"
	"context"
	"reflect"
	"testing"
)

// tinyDisk is a valid 8 KiB disk with 4 entries per array, small enough
// for the fuzzer to mutate usefully.
func tinyDisk(f *testing.F) []byte {
	tab := &Table{DiskGUID: diskGUID, SectorSize: 512, Sectors: 16, Entries: 4}
	tab.Partitions = []Partition{
		{Number: 1, Type: TypeESP, UUID: TypeVar, Name: "esp", FirstLBA: 3, LastLBA: 6},
		{Number: 3, Type: TypeRootX86_64, UUID: TypeSwap, Name: "root", FirstLBA: 7, LastLBA: 11, Attributes: AttrReadOnly},
	}
	d := &memDisk{b: make([]byte, 16*512)}
	if err := tab.Write(context.Background(), d); err != nil {
		f.Fatal(err)
	}
	return d.b
}

// FuzzRead feeds untrusted disks to Read: it must never panic, and a table
// it accepts must write back to a disk that reads as the same table.
func FuzzRead(f *testing.F) {
	tiny := tinyDisk(f)
	f.Add(tiny)
	broken := bytes.Clone(tiny)
	broken[512+80] = 0xff // entry count
	f.Add(broken)
	f.Add(tiny[:4096])
	f.Fuzz(func(t *testing.T, img []byte) {
		tab, err := Read(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		if tab.Entries*EntrySize > MaxEntryArray || len(tab.Partitions) > tab.Entries {
			t.Fatalf("accepted a table beyond the limits: %d entries", tab.Entries)
		}
		d := &memDisk{b: make([]byte, len(img))}
		if err := tab.Write(context.Background(), d); err != nil {
			// A table placed differently from ours (e.g. entries elsewhere)
			// may not fit our layout; that is not a parser bug.
			return
		}
		back, err := Read(bytes.NewReader(d.b), int64(len(d.b)))
		if err != nil {
			t.Fatalf("re-reading our write of an accepted table: %v", err)
		}
		if !reflect.DeepEqual(back.Partitions, tab.Partitions) || back.DiskGUID != tab.DiskGUID {
			t.Fatalf("round trip changed the table:\n%+v\n%+v", tab, back)
		}
	})
}
