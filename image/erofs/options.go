package erofs

import (
	"errors"
	"io/fs"
	"log/slog"
	"runtime"
	"syscall"

	"github.com/hardvm/hardvm/progress"
)

// Attr is what an image records about an entry beyond its fs.FileInfo.
type Attr struct {
	UID, GID uint32
	Xattrs   map[string]string // full name ("security.capability") -> raw value
	// Ino groups hardlinks: non-directory entries with the same non-zero
	// Ino share one inode. Zero means the entry is not a hardlink.
	Ino uint64
	// Rdev is the device number of a character or block device.
	Rdev uint32
}

// AttrFunc returns the attributes of the entry at name (a path valid for
// fs.FS) whose FileInfo is fi.
type AttrFunc func(name string, fi fs.FileInfo) (Attr, error)

// Option configures [Write].
type Option func(*options) error

type options struct {
	epoch    int64
	uuid     [16]byte
	hasUUID  bool
	volume   string
	attr     AttrFunc
	log      *slog.Logger
	progress progress.Reporter
	workers  int
}

func defaults() options {
	return options{
		attr:    StatAttr,
		log:     slog.New(slog.DiscardHandler),
		workers: min(runtime.GOMAXPROCS(0), 4),
	}
}

// WithEpoch sets SOURCE_DATE_EPOCH: the build time of the image and the
// latest mtime any entry gets (later or zero times are clamped to it).
func WithEpoch(sec int64) Option {
	return func(o *options) error {
		if sec < 0 {
			return errors.New("erofs: negative epoch")
		}
		o.epoch = sec
		return nil
	}
}

// WithUUID sets the volume UUID. Without it the UUID is derived from the
// planned metadata (names, modes, owners, sizes, epoch), so it is stable.
func WithUUID(u [16]byte) Option {
	return func(o *options) error {
		o.uuid, o.hasUUID = u, true
		return nil
	}
}

// WithVolumeName sets the volume label (at most 16 bytes).
func WithVolumeName(name string) Option {
	return func(o *options) error {
		if len(name) > 16 {
			return errors.New("erofs: volume name longer than 16 bytes")
		}
		o.volume = name
		return nil
	}
}

// WithAttr sets how owners, xattrs, hardlinks and device numbers are read
// from the source. The default is [StatAttr].
func WithAttr(f AttrFunc) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("erofs: nil AttrFunc")
		}
		o.attr = f
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("erofs: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithProgress reports bytes of file data written under the stage "erofs".
func WithProgress(r progress.Reporter) Option {
	return func(o *options) error {
		o.progress = r
		return nil
	}
}

// WithWorkers sets how many files are copied at once (default: GOMAXPROCS,
// at most 4).
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("erofs: workers must be at least 1")
		}
		o.workers = n
		return nil
	}
}

// StatAttr reads owners, inode and device numbers from a *syscall.Stat_t
// in fi.Sys() (as os.DirFS gives); other sources get root:root, no xattrs
// and no hardlinks.
func StatAttr(_ string, fi fs.FileInfo) (Attr, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Attr{}, nil
	}
	a := Attr{UID: st.Uid, GID: st.Gid, Rdev: uint32(st.Rdev)}
	if st.Nlink > 1 && !fi.IsDir() {
		a.Ino = st.Ino
	}
	return a, nil
}
