package fat

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/hardvm/hardvm/progress"
)

// Option configures [Write].
type Option func(*options) error

type options struct {
	epoch     int64
	label     string
	volumeID  uint32
	hasVolID  bool
	hidden    uint32
	log       *slog.Logger
	progress  progress.Reporter
	clusterSz int
}

func defaults() options {
	return options{label: "NO NAME", log: slog.New(slog.DiscardHandler)}
}

// WithEpoch sets SOURCE_DATE_EPOCH, the time stamp of every entry
// (clamped to the FAT range 1980-2107).
func WithEpoch(sec int64) Option {
	return func(o *options) error {
		o.epoch = sec
		return nil
	}
}

// WithLabel sets the volume label: up to 11 characters of A-Z, 0-9, space
// and _-. (lower case is upper-cased). The default is "NO NAME", written
// only into the boot sector as mkfs.fat does.
func WithLabel(label string) Option {
	return func(o *options) error {
		label = strings.ToUpper(label)
		if len(label) == 0 || len(label) > 11 {
			return errors.New("fat: label must have 1 to 11 characters")
		}
		for _, c := range label {
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" _-.", c)) {
				return errors.New("fat: label may hold only A-Z, 0-9, space, dot, dash and underscore")
			}
		}
		o.label = label
		return nil
	}
}

// WithVolumeID sets the 32-bit volume serial number. Without it the
// number is derived from the tree and the epoch.
func WithVolumeID(id uint32) Option {
	return func(o *options) error {
		o.volumeID, o.hasVolID = id, true
		return nil
	}
}

// WithHiddenSectors records the volume's first sector on its disk (the
// partition's start LBA) in the boot sector.
func WithHiddenSectors(lba uint32) Option {
	return func(o *options) error {
		o.hidden = lba
		return nil
	}
}

// WithClusterSize overrides the cluster size in bytes (a power of two
// from 512 to 32768). The default follows mkfs.fat: 512 bytes up to
// 260 MiB, 4 KiB up to 8 GiB, then larger.
func WithClusterSize(n int) Option {
	return func(o *options) error {
		if n < 512 || n > 32768 || n&(n-1) != 0 {
			return errors.New("fat: cluster size must be a power of two from 512 to 32768")
		}
		o.clusterSz = n
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("fat: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithProgress reports bytes of file data written under the stage "fat".
func WithProgress(r progress.Reporter) Option {
	return func(o *options) error {
		o.progress = r
		return nil
	}
}
