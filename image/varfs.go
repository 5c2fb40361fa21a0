package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// makeVar makes an empty ext4 file system labelled "var" in the disk file
// at [off, off+size) with mke2fs (e2fsprogs). It is the one step that runs
// an external tool: /var is a separate, writable partition, and mke2fs is
// the reference ext4 writer. Its UUID and directory hash seed are derived
// from the layout and its time stamps come from E2FSPROGS_FAKE_TIME, so
// with the same e2fsprogs the bytes are the same; lazy_itable_init leaves
// the inode tables as holes.
func makeVar(ctx context.Context, disk string, off, size int64, l resolvedLayout) error {
	uuid := uuidString(deriveUUID("var fs uuid", l.seed, l.epoch))
	seed := uuidString(deriveUUID("var hash seed", l.seed, l.epoch))
	cmd := exec.CommandContext(ctx, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "var", "-U", uuid,
		"-E", fmt.Sprintf("offset=%d,hash_seed=%s,root_owner=0:0,nodiscard,lazy_itable_init=1,lazy_journal_init=1", off, seed),
		disk, strconv.FormatInt(size/1024, 10)+"k")
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME="+strconv.FormatInt(l.SourceDateEpoch, 10), "MKE2FS_SYNC=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: mke2fs: %v: %s", ErrVar, err, out)
	}
	return nil
}

// uuidString formats u in the canonical 8-4-4-4-12 form.
func uuidString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
