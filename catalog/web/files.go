package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	digest "github.com/opencontainers/go-digest"

	"github.com/hardvm/hardvm/catalog"
)

// Files reads the files a catalog entry records (its disks and
// attachments) by their digest and size. Open returns a reader of the file
// recorded with that digest, or an error wrapping [ErrUnavailable] when the
// source holds none. What it returns is not trusted: the [Handler] hashes
// every byte it reads and checks it against the digest before it counts
// or serves it.
type Files interface {
	Open(ctx context.Context, d digest.Digest, size int64) (io.ReadCloser, error)
}

// DirFiles finds a catalog's files in local directory trees: build output
// directories (hardvm build writes the disks, SBOM, provenance and bundles
// there) and a local registrar's directory (blobs/sha256/<hex>). A file is
// found by content, never by a name from a URL or from the catalog: a file
// named by the digest's hex (as blobs are) is the file of that digest
// whatever it holds, so a damaged blob is reported as damaged; otherwise
// the files of the recorded size are hashed (once, cached until the file
// changes) until one has the digest.
//
// Nothing outside the directories is read: they are opened as [os.Root]s,
// symbolic links that leave them are refused, and only regular files are
// opened. It is safe for concurrent use.
type DirFiles struct {
	roots []*os.Root
	dirs  []string

	mu      sync.Mutex
	indexed bool
	walked  time.Time            // when the trees were last walked
	byName  map[string][]fileRef // by the hex digest a file's name holds
	bySize  map[int64][]fileRef
	sums    map[fileRef]fileSum // digests of files hashed, by file
}

type fileRef struct {
	root int
	rel  string
}

// fileSum is the digest of a file as it was when hashed.
type fileSum struct {
	dev, ino, size uint64
	mtime, ctime   syscall.Timespec
	digest         digest.Digest
}

// NewDirFiles returns the files under dirs. It fails if a directory
// cannot be opened. The trees are walked when a file is first asked for,
// and again when a file is not found (files appear as builds run), at most
// every [RescanInterval]; [DirFiles.Rescan] forces a walk.
func NewDirFiles(dirs ...string) (*DirFiles, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: DirFiles needs at least one directory", ErrOption)
	}
	f := &DirFiles{sums: map[fileRef]fileSum{}}
	for _, d := range dirs {
		r, err := os.OpenRoot(d)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("web: files: %w", err)
		}
		f.roots = append(f.roots, r)
		f.dirs = append(f.dirs, d)
	}
	return f, nil
}

// Close releases the directories.
func (f *DirFiles) Close() error {
	var errs []error
	for _, r := range f.roots {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// String names the directories.
func (f *DirFiles) String() string { return "directories " + strings.Join(f.dirs, ", ") }

// RescanInterval is the least time between two walks of a DirFiles' trees
// caused by files not found: a catalog whose files are gone costs one walk
// per interval, not one per file.
const RescanInterval = 2 * time.Second

// Rescan makes the next Open walk the trees again.
func (f *DirFiles) Rescan() {
	f.mu.Lock()
	f.indexed = false
	f.mu.Unlock()
}

// maxIndexed bounds the files one index holds, so that a mistaken
// directory (/) cannot exhaust memory.
const maxIndexed = 1 << 20

// index walks the trees. Callers hold f.mu.
func (f *DirFiles) index() error {
	byName, bySize := map[string][]fileRef{}, map[int64][]fileRef{}
	n := 0
	for i, r := range f.roots {
		err := fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // an unreadable subdirectory: skip it
			}
			if !d.Type().IsRegular() {
				return nil // directories are walked; links, devices, pipes never opened
			}
			if n++; n > maxIndexed {
				return fmt.Errorf("web: files: more than %d files under %s", maxIndexed, f.dirs[i])
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			ref := fileRef{i, p}
			if h, ok := digestName(path.Base(p)); ok {
				byName[h] = append(byName[h], ref)
			}
			bySize[info.Size()] = append(bySize[info.Size()], ref)
			return nil
		})
		if err != nil {
			return err
		}
	}
	f.byName, f.bySize, f.indexed, f.walked = byName, bySize, true, time.Now()
	// Forget the digests of files that are gone.
	for ref := range f.sums {
		if !slices.Contains(bySize[int64(f.sums[ref].size)], ref) {
			delete(f.sums, ref)
		}
	}
	return nil
}

// digestName returns the hex digest a blob's name holds: <hex>,
// sha256-<hex> or sha256:<hex>, with an optional extension.
func digestName(base string) (string, bool) {
	base = strings.TrimPrefix(strings.TrimPrefix(base, "sha256-"), "sha256:")
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		return "", false
	}
	return base, true
}

// Open returns the file of digest d and size n (see [DirFiles]).
func (f *DirFiles) Open(ctx context.Context, d digest.Digest, n int64) (io.ReadCloser, error) {
	if !catalog.ValidDigest(d) {
		return nil, fmt.Errorf("%w: digest %q", ErrUnavailable, d)
	}
	h := d.Encoded()
	for pass := 0; pass < 2; pass++ {
		f.mu.Lock()
		var err error
		switch {
		case !f.indexed:
			err = f.index()
		case pass == 1 && time.Since(f.walked) < RescanInterval:
			f.mu.Unlock()
			return nil, f.missing(d, n)
		case pass == 1:
			err = f.index()
		}
		named := slices.Clone(f.byName[h])
		sized := slices.Clone(f.bySize[n])
		f.mu.Unlock()
		if err != nil {
			return nil, err
		}
		// A file named by the digest is that file, whatever it holds.
		for _, ref := range named {
			if rc, err := f.open(ref); err == nil {
				return rc, nil
			}
		}
		for _, ref := range sized {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			got, err := f.digest(ctx, ref, n)
			if err != nil || got != d {
				continue
			}
			if rc, err := f.open(ref); err == nil {
				return rc, nil
			}
		}
	}
	return nil, f.missing(d, n)
}

// missing is the error for a file not found. It names no directory: pages
// show it, and the server's paths are not theirs to show.
func (f *DirFiles) missing(d digest.Digest, n int64) error {
	return fmt.Errorf("%w: no file in the %d file directories has digest %s (%d bytes)", ErrUnavailable, len(f.dirs), d, n)
}

// open opens a regular file without blocking on pipes.
func (f *DirFiles) open(ref fileRef) (*os.File, error) {
	file, err := f.roots[ref.root].OpenFile(ref.rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		file.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUnavailable, ref.rel)
	}
	return file, nil
}

// digest returns the digest of a file, hashing it unless a digest of the
// file as it is now is cached.
func (f *DirFiles) digest(ctx context.Context, ref fileRef, n int64) (digest.Digest, error) {
	file, err := f.open(ref)
	if err != nil {
		return "", err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Size() != n {
		return "", fmt.Errorf("%w: %s changed", ErrUnavailable, ref.rel)
	}
	now := fileSum{dev: st.Dev, ino: st.Ino, size: uint64(st.Size), mtime: st.Mtim, ctime: st.Ctim}
	f.mu.Lock()
	cached, ok := f.sums[ref]
	f.mu.Unlock()
	if ok && sameFile(cached, now) {
		return cached.digest, nil
	}
	d, _, err := hashReader(ctx, file, n)
	if err != nil {
		return "", err
	}
	now.digest = d
	f.mu.Lock()
	f.sums[ref] = now
	f.mu.Unlock()
	return d, nil
}

func sameFile(a, b fileSum) bool {
	return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime
}

// hashReader hashes at most n+1 bytes of r and returns the digest and the
// number of bytes read.
func hashReader(ctx context.Context, r io.Reader, n int64) (digest.Digest, int64, error) {
	h := sha256.New()
	got, err := io.Copy(h, &ctxReader{ctx, io.LimitReader(r, n+1)})
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), got, err
}

// ctxReader stops reading when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// RegistryFiles reads a catalog's files from the OCI repository that
// catalog/oci keeps it in: disks are layers of the image manifests,
// attachments the layers of their referrers, all blobs addressed by
// digest. opts configure go-containerregistry's remote package (auth,
// transport); give the repository name.Insecure for plain HTTP.
func RegistryFiles(repo name.Repository, opts ...remote.Option) Files {
	return &registryFiles{repo: repo, opts: opts}
}

type registryFiles struct {
	repo name.Repository
	opts []remote.Option
}

func (r *registryFiles) String() string { return "registry " + r.repo.String() }

func (r *registryFiles) Open(ctx context.Context, d digest.Digest, _ int64) (io.ReadCloser, error) {
	if !catalog.ValidDigest(d) {
		return nil, fmt.Errorf("%w: digest %q", ErrUnavailable, d)
	}
	l, err := remote.Layer(r.repo.Digest(d.String()), append(slices.Clip(r.opts), remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("web: %s: %w", r.repo, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %s has no blob %s", ErrUnavailable, r.repo, d)
		}
		return nil, fmt.Errorf("web: %s: blob %s: %w", r.repo, d, err)
	}
	return rc, nil
}

// MultiFiles reads from each source in turn: the first that holds a file
// serves it.
func MultiFiles(sources ...Files) Files { return multiFiles(sources) }

type multiFiles []Files

func (m multiFiles) Open(ctx context.Context, d digest.Digest, n int64) (io.ReadCloser, error) {
	var errs []error
	for _, f := range m {
		rc, err := f.Open(ctx, d, n)
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: no file source", ErrUnavailable)
	}
	return nil, errors.Join(errs...)
}
