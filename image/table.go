package image

import (
	"context"
	"fmt"
	"io"

	"github.com/hardvm/hardvm/image/gpt"
	"github.com/hardvm/hardvm/image/osconfig"
	"github.com/hardvm/hardvm/image/verity"
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

// dpsSuffix names an architecture in DPS partition names
// (root-x86-64, root-arm64-verity).
var dpsSuffix = map[string]string{"x86_64": "x86-64", "aarch64": "arm64"}

// writeTable writes the protective MBR and the primary and backup GPT for
// parts with image/gpt, and fills d.DiskGUID and d.Partitions.
func writeTable(ctx context.Context, w io.WriterAt, d *Disk, parts []partitionPlan, root verity.RootHash, l resolvedLayout) error {
	types, err := gpt.RootTypesFor(string(l.Arch))
	if err != nil {
		return err
	}
	rootUUID, verityUUID, err := gpt.VerityPartitionUUIDs(root)
	if err != nil {
		return err
	}
	t, err := gpt.New(d.Size, 512, gpt.GUID(deriveUUID("disk guid", l.seed, l.epoch, root)))
	if err != nil {
		return err
	}
	suffix := dpsSuffix[string(l.Arch)]
	for _, p := range parts {
		var gp gpt.Partition
		switch p.kind {
		case partESP:
			gp = gpt.Partition{Type: gpt.TypeESP, Name: "esp", UUID: gpt.GUID(deriveUUID("esp partition uuid", l.seed, l.epoch, root))}
		case partRoot:
			gp = gpt.Partition{Type: types.Root, Name: "root-" + suffix, UUID: rootUUID, Attributes: gpt.AttrReadOnly}
		case partVerity:
			gp = gpt.Partition{Type: types.Verity, Name: "root-" + suffix + "-verity", UUID: verityUUID, Attributes: gpt.AttrReadOnly}
		case partVar:
			gp = gpt.Partition{Type: gpt.TypeVar, Name: osconfig.VarPartLabel, UUID: gpt.GUID(deriveUUID("var partition uuid", l.seed, l.epoch, root))}
		}
		added, err := t.Add(gp, p.size)
		if err != nil {
			return err
		}
		if int64(added.FirstLBA)*512 != p.off {
			return fmt.Errorf("image: internal error: partition %s at LBA %d, planned at byte %d", gp.Name, added.FirstLBA, p.off)
		}
		d.Partitions = append(d.Partitions, Partition{Name: gp.Name, Type: gp.Type.String(), UUID: gp.UUID.String(), Offset: p.off, Size: p.size})
	}
	d.DiskGUID = t.DiskGUID.String()
	return t.Write(ctx, w)
}
