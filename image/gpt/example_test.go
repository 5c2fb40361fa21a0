package gpt_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardvm/hardvm/image/gpt"
)

func Example() {
	dir, _ := os.MkdirTemp("", "gpt-example")
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "disk.raw")
	f, _ := os.Create(disk)
	defer f.Close()
	const size = 1 << 30
	f.Truncate(size) // sparse

	// The disk GUID comes from the build inputs; the root and verity
	// partition UUIDs from the dm-verity root hash (DPS convention).
	diskGUID, _ := gpt.ParseGUID("a3c1e5f7-0b2d-4e6f-8a1c-3e5f7a9b1d2f")
	rootHash, _ := hex.DecodeString("7d1f3bb5e4d5c0c6a08f2ab8e0c1d29e5b0aa1c3f8e2d4b6a9c0e1f2a3b4c5d6")
	rootUUID, verityUUID, _ := gpt.VerityPartitionUUIDs(rootHash)
	types, _ := gpt.RootTypesFor("x86_64")
	espUUID, _ := gpt.ParseGUID("0c0ffee0-1111-4222-8333-444455556666")

	t, _ := gpt.New(size, 512, diskGUID)
	for _, p := range []struct {
		part gpt.Partition
		size int64
	}{
		{gpt.Partition{Type: gpt.TypeESP, UUID: espUUID, Name: "esp"}, 64 << 20},
		{gpt.Partition{Type: types.Root, UUID: rootUUID, Name: "root-x86-64"}, 512 << 20},
		{gpt.Partition{Type: types.Verity, UUID: verityUUID, Name: "root-x86-64-verity"}, 8 << 20},
	} {
		p.part.Attributes = gpt.DefaultAttributes(p.part.Type)
		if _, err := t.Add(p.part, p.size); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := t.Write(context.Background(), f); err != nil {
		fmt.Println(err)
		return
	}

	back, err := gpt.Read(f, size)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("disk", back.DiskGUID)
	for _, p := range back.Partitions {
		fmt.Printf("%d %-18s %s LBA %d-%d read-only=%v\n", p.Number, p.Name, p.UUID, p.FirstLBA, p.LastLBA, p.Attributes&gpt.AttrReadOnly != 0)
	}
	// Output:
	// disk a3c1e5f7-0b2d-4e6f-8a1c-3e5f7a9b1d2f
	// 1 esp                0c0ffee0-1111-4222-8333-444455556666 LBA 2048-133119 read-only=false
	// 2 root-x86-64        7d1f3bb5-e4d5-c0c6-a08f-2ab8e0c1d29e LBA 133120-1181695 read-only=true
	// 3 root-x86-64-verity 5b0aa1c3-f8e2-d4b6-a9c0-e1f2a3b4c5d6 LBA 1181696-1198079 read-only=true
}
