package image

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/image/vdisk"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
)

// ExportOption configures [Export].
type ExportOption func(*exportOptions) error

type exportOptions struct {
	ref      vm.Ref
	perm     os.FileMode
	progress progress.Reporter
}

// ExportRef sets the image reference recorded in the artifact.
func ExportRef(r vm.Ref) ExportOption {
	return func(o *exportOptions) error { o.ref = r; return nil }
}

// ExportMode sets the permission bits of the file; the default is 0644.
func ExportMode(perm os.FileMode) ExportOption {
	return func(o *exportOptions) error {
		if perm&^os.ModePerm != 0 {
			return fmt.Errorf("image: export mode %v has bits beyond permissions", perm)
		}
		o.perm = perm
		return nil
	}
}

// ExportProgress reports the bytes written to the file, as stage
// "export <format>" with an unknown total.
func ExportProgress(p progress.Reporter) ExportOption {
	return func(o *exportOptions) error { o.progress = p; return nil }
}

// Export writes disk in the format of w to path and describes the file as
// an [Artifact]. The write is atomic: a temporary file beside path,
// fsynced, renamed over path; an error or a cancelled ctx leaves nothing
// behind. The SHA-256 digest is computed while the file is written (holes
// are hashed as the zeros they read as, never read back), except for the
// formats that rewrite a header once the data is written (qcow2, ova),
// whose file is hashed once more from the page cache.
func Export(ctx context.Context, disk *Disk, w vdisk.Writer, path string, opts ...ExportOption) (artifact.Artifact, error) {
	o := exportOptions{perm: 0o644}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return artifact.Artifact{}, err
		}
	}
	if disk == nil || w == nil {
		return artifact.Artifact{}, errors.New("image: export: nil disk or writer")
	}
	src, err := vdisk.OpenFile(disk.Path)
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s: %w", w.Format(), err)
	}
	defer src.Close()
	if disk.Size != 0 && disk.Size != src.Size() {
		return artifact.Artifact{}, fmt.Errorf("image: export: %s is %d bytes, the disk says %d", disk.Path, src.Size(), disk.Size)
	}
	// An export of path killed before it finished (kill -9, a crash)
	// left a temporary as large as the disk beside it: take back those
	// no live writer holds before writing another.
	if _, err := atomicfile.ReclaimFor(path); err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s: %w", w.Format(), err)
	}
	f, err := atomicfile.Create(path, o.perm)
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s: %w", w.Format(), err)
	}
	defer f.Abort()
	d := &digestFile{f: f.File, h: sha256.New(), progress: o.progress, stage: "export " + string(w.Format())}
	if err := w.WriteDisk(ctx, d, src); err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s to %s: %w", w.Format(), path, err)
	}
	if err := d.finish(); err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s to %s: %w", w.Format(), path, err)
	}
	sum, err := d.sum(ctx)
	if err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s to %s: %w", w.Format(), path, err)
	}
	if err := ctx.Err(); err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s to %s: %w", w.Format(), path, err)
	}
	if err := f.Commit(); err != nil {
		return artifact.Artifact{}, fmt.Errorf("image: export %s: %w", w.Format(), err)
	}
	return artifact.Artifact{
		Ref:         o.ref,
		Format:      w.Format(),
		Path:        path,
		Size:        d.size,
		VirtualSize: vdisk.VirtualSize(w, src.Size()),
		Digest:      sum,
		RootHash:    disk.RootHash,
	}, nil
}

// digestFile is the destination of an export: it hashes what is written in
// order, seeks over holes (vdisk.HoleWriter) and accepts patches of bytes
// already written (vdisk.Destination), after which the stream hash is
// stale.
type digestFile struct {
	f        *os.File
	h        hash.Hash
	pos      int64 // bytes of the stream so far, holes included
	size     int64 // final file size
	pending  int64 // hole bytes not yet seeked over
	stale    bool
	progress progress.Reporter
	stage    string
	reported int64
}

var zeroBlock = make([]byte, 1<<20)

func (d *digestFile) Write(p []byte) (int, error) {
	if d.pending > 0 {
		if _, err := d.f.Seek(d.pos, io.SeekStart); err != nil {
			return 0, err
		}
		d.pending = 0
	}
	n, err := d.f.Write(p)
	d.h.Write(p[:n])
	d.advance(int64(n))
	return n, err
}

// WriteZeros leaves a hole of n bytes and hashes the zeros it reads as.
func (d *digestFile) WriteZeros(n int64) error {
	for k := n; k > 0; {
		c := min(k, int64(len(zeroBlock)))
		d.h.Write(zeroBlock[:c])
		k -= c
	}
	d.pending += n
	d.advance(n)
	return nil
}

// WriteAt patches bytes already written; the digest is then recomputed
// from the file.
func (d *digestFile) WriteAt(p []byte, off int64) (int, error) {
	if off < d.pos {
		d.stale = true
	}
	return d.f.WriteAt(p, off)
}

func (d *digestFile) advance(n int64) {
	d.pos += n
	if d.progress != nil && d.pos-d.reported >= 64<<20 {
		d.reported = d.pos
		d.progress.Progress(d.stage, d.pos, 0)
	}
}

// finish extends the file over a trailing hole.
func (d *digestFile) finish() error {
	fi, err := d.f.Stat()
	if err != nil {
		return err
	}
	d.size = max(fi.Size(), d.pos)
	if fi.Size() < d.size {
		if err := d.f.Truncate(d.size); err != nil {
			return err
		}
	}
	if d.progress != nil {
		d.progress.Progress(d.stage, d.size, d.size)
	}
	return nil
}

var (
	_ vdisk.Destination = (*digestFile)(nil)
	_ vdisk.HoleWriter  = (*digestFile)(nil)
)

// sum returns the SHA-256 digest of the file, reading it again (and
// stopping when ctx is done) if it was patched.
func (d *digestFile) sum(ctx context.Context) (digest.Digest, error) {
	if d.stale || d.size != d.pos {
		return digest.SHA256.FromReader(ctxReader{ctx, io.NewSectionReader(d.f, 0, d.size)})
	}
	return digest.NewDigest(digest.SHA256, d.h), nil
}

// ctxReader reads r until ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
