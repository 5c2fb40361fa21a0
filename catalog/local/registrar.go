package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hardvm/hardvm/artifact"
	"github.com/hardvm/hardvm/catalog"
	"github.com/hardvm/hardvm/internal/atomicfile"
	"github.com/hardvm/hardvm/internal/sparse"
	"github.com/hardvm/hardvm/progress"
	"github.com/hardvm/hardvm/vm"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Registrar registers images on a local KVM host (or for tests) by copying
// their artifacts into a content-addressed directory:
//
//	blobs/sha256/<hex>                      one copy of each artifact, sparse
//	images/<stream>/<version>/<file name>   a hard link per registered image
//
// A Location's ID is the image's path under the directory; its URI is a
// file:// URL. Registrar is safe for concurrent use by goroutines and
// processes sharing the directory.
type Registrar struct {
	dir      string
	log      *slog.Logger
	progress progress.Reporter
}

// NewRegistrar returns a registrar copying into dir, creating it if needed.
func NewRegistrar(dir string, opts ...Option) (*Registrar, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: registrar: %w", err)
	}
	for _, d := range []string{filepath.Join(abs, "blobs", "sha256"), filepath.Join(abs, "images")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("local: registrar: %w", err)
		}
	}
	return &Registrar{dir: abs, log: o.log, progress: o.progress}, nil
}

// Target returns vm.QEMU: the local registrar serves KVM hosts.
func (r *Registrar) Target() vm.Cloud { return vm.QEMU }

// Accepts reports true for every format: a host keeps whatever it is given.
func (r *Registrar) Accepts(vm.DiskFormat) bool { return true }

func (r *Registrar) blobPath(d digest.Digest) string {
	return filepath.Join(r.dir, "blobs", string(d.Algorithm()), d.Encoded())
}

// imageRel is the image's path under the directory.
func imageRel(a artifact.Artifact, e catalog.Entry) string {
	return filepath.Join("images", e.Ref.Stream(), e.Ref.Version.String(), a.Name())
}

// Register copies a into the blob store (verifying its digest while it
// copies, keeping holes) and links it as the entry's image. An artifact
// whose file does not have its digest is refused with a
// *catalog.ArtifactError (catalog.ErrRejected) and leaves nothing behind.
func (r *Registrar) Register(ctx context.Context, a artifact.Artifact, e catalog.Entry) (catalog.Location, error) {
	if a.Name() == "" || a.Name() == "." || a.Name() == ".." {
		return catalog.Location{}, fmt.Errorf("%w: artifact path %q", catalog.ErrInvalid, a.Path)
	}
	src, err := catalog.OpenArtifact(a, string(vm.QEMU), r.progress)
	if err != nil {
		return catalog.Location{}, err
	}
	defer src.Close()
	blob := r.blobPath(a.Digest)
	rel := imageRel(a, e)
	link := filepath.Join(r.dir, rel)
	tmp := ""
	var tf *os.File // tmp, open and locked: a live writer's
	defer func() {
		if tf != nil {
			os.Remove(tmp) // before the lock goes with the file
			tf.Close()
		}
	}()
	for {
		// Copy outside the lock (it is the long part), unless the blob is
		// already there; link under the lock.
		if _, err := os.Stat(blob); errors.Is(err, fs.ErrNotExist) && tf == nil {
			if tf, err = r.copyTemp(ctx, src); err != nil {
				return catalog.Location{}, err
			}
			tmp = tf.Name()
		}
		done, err := r.link(ctx, tmp, blob, link)
		if err != nil {
			return catalog.Location{}, fmt.Errorf("local: register %s: %w", a.Name(), err)
		}
		if done {
			break
		}
		// The blob went away (a concurrent Deregister) before we held the
		// lock, and we had no copy: copy it now.
	}
	r.log.Info("local: registered", "ref", e.Ref.String(), "path", link)
	return catalog.Location{Target: vm.QEMU, ID: rel, URI: "file://" + link, Format: a.Format, Digest: a.Digest}, nil
}

// link, under the lock, puts tmp in place as blob unless a blob is there
// already, and links blob as link. It reports false if there was neither a
// blob nor tmp.
func (r *Registrar) link(ctx context.Context, tmp, blob, link string) (bool, error) {
	unlock, err := lockFile(ctx, filepath.Join(r.dir, "lock"))
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := os.Stat(blob); errors.Is(err, fs.ErrNotExist) {
		if tmp == "" {
			return false, nil
		}
		// Link, not rename: never replace a blob images already link.
		if err := os.Link(tmp, blob); err != nil {
			return false, err
		}
		if err := atomicfile.SyncDir(filepath.Dir(blob)); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return false, err
	}
	if err := os.Link(blob, link); errors.Is(err, fs.ErrExist) {
		if !sameFile(blob, link) {
			return false, fmt.Errorf("%w: %s is registered with other content", catalog.ErrConflict, link)
		}
	} else if err != nil {
		return false, err
	}
	return true, atomicfile.SyncDir(filepath.Dir(link))
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// copyChunk is the most a copy reads at once. Holes of the source are not
// read; zero blocks within its data are left as holes too.
const copyChunk = 1 << 20

// copyTemp copies src to a temporary file beside the blobs, keeping its
// holes, and returns it, still open and locked (see createTemp), only if
// the digest matches.
func (r *Registrar) copyTemp(ctx context.Context, src *catalog.ArtifactFile) (*os.File, error) {
	f, err := r.createTemp(ctx)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(f.Name())
			f.Close()
		}
	}()
	// One worker writes while Chunks reads and hashes the next chunk.
	err = src.Chunks(ctx, catalog.ChunkOptions{Size: copyChunk, Workers: 1, Sparse: true, Align: 4096}, func(_ context.Context, off int64, b []byte) error {
		// Write each run of non-zero 4 KiB blocks at once.
		next := func(i int) int { return min(i+4096, len(b)) }
		for i := 0; i < len(b); {
			if sparse.IsZero(b[i:next(i)]) {
				i = next(i)
				continue
			}
			j := next(i)
			for j < len(b) && !sparse.IsZero(b[j:next(j)]) {
				j = next(j)
			}
			if _, err := f.WriteAt(b[i:j], off+int64(i)); err != nil {
				return fmt.Errorf("local: register %s: %w", src.Artifact().Name(), err)
			}
			i = j
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(src.Size()); err != nil {
		return nil, fmt.Errorf("local: register %s: %w", src.Artifact().Name(), err)
	}
	if err := f.Chmod(0o444); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	ok = true
	return f, nil
}

// tempPrefix starts the names of the copies being made.
const tempPrefix = ".tmp-"

// createTemp creates a temporary file for a copy and takes an exclusive
// flock on it, which the kernel keeps until the file is closed or its
// process dies: a temporary file nobody holds locked is a dead writer's.
// It creates and locks it under the directory lock, so that Reclaim (which
// holds that lock too) never sees it unlocked; it reclaims first.
func (r *Registrar) createTemp(ctx context.Context) (*os.File, error) {
	unlock, err := lockFile(ctx, filepath.Join(r.dir, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := r.reclaim(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(r.dir, "blobs", "sha256"), tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("local: register: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		os.Remove(f.Name())
		f.Close()
		return nil, fmt.Errorf("local: register: lock %s: %w", f.Name(), err)
	}
	return f, nil
}

// Reclaim removes the temporary copies that registrations killed before
// they finished (kill -9, a crash, a power cut) left in blobs/sha256, and
// returns their paths. A copy being made by a live process (this one or
// another) is left alone: it is locked for as long as its writer lives.
// Every registration that copies reclaims first; Reclaim is for a
// maintenance command (`hardvm catalog repair`) to run on its own.
func (r *Registrar) Reclaim(ctx context.Context) ([]string, error) {
	unlock, err := lockFile(ctx, filepath.Join(r.dir, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	return r.reclaim()
}

// reclaim is Reclaim for callers holding the directory lock.
func (r *Registrar) reclaim() ([]string, error) {
	dir := filepath.Join(r.dir, "blobs", "sha256")
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("local: reclaim: %w", err)
	}
	var removed []string
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), tempPrefix) || !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		dead, err := unlocked(p)
		if err != nil {
			return removed, fmt.Errorf("local: reclaim: %w", err)
		}
		if dead {
			removed = append(removed, p)
		}
	}
	if len(removed) > 0 {
		r.log.Info("local: removed copies killed registrations left", "dir", dir, "files", len(removed))
	}
	return removed, nil
}

// unlocked removes p if no process holds it locked, and reports whether it
// did. It removes it while holding the lock itself.
func unlocked(p string) (bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil // a live writer's
	}
	if err != nil {
		return false, err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// Deregister removes the image link of loc, and its blob once no image
// links it. A location already gone is not an error.
func (r *Registrar) Deregister(ctx context.Context, loc catalog.Location) error {
	rel := filepath.Clean(loc.ID)
	if loc.Target != vm.QEMU || !strings.HasPrefix(rel, "images"+string(filepath.Separator)) || !filepath.IsLocal(rel) {
		return fmt.Errorf("%w: location %s/%s is not one of this registrar's", catalog.ErrInvalid, loc.Target, loc.ID)
	}
	unlock, err := lockFile(ctx, filepath.Join(r.dir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	link := filepath.Join(r.dir, rel)
	if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local: deregister: %w", err)
	}
	if catalog.ValidDigest(loc.Digest) {
		blob := r.blobPath(loc.Digest)
		if fi, err := os.Stat(blob); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 1 {
				if err := os.Remove(blob); err != nil {
					return fmt.Errorf("local: deregister: %w", err)
				}
			}
		}
	}
	// Remove the version and stream directories left empty.
	for d := filepath.Dir(link); d != filepath.Join(r.dir, "images"); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	r.log.Info("local: deregistered", "path", link)
	return nil
}

var _ catalog.Registrar = (*Registrar)(nil)
