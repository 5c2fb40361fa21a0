package image

import "errors"

// Sentinel errors of package image. Each step adds its own, grouped below;
// typed errors carrying details live next to the code that returns them.
var (
	// ErrMixedRepositories reports a lock that would draw packages from both
	// Wolfi and Chainguard OS repositories.
	ErrMixedRepositories = errors.New("image: Wolfi and Chainguard OS packages mixed")
)

// Sentinel errors of Assemble.
var (
	// ErrLayout reports a Layout that cannot be assembled (bad arch, sizes
	// or hash algorithm); the message says which field.
	ErrLayout = errors.New("image: invalid layout")
	// ErrDiskTooSmall reports a Layout.Size below what the partitions need;
	// a *SizeError carries the figures.
	ErrDiskTooSmall = errors.New("image: disk too small")
	// ErrVar reports a failure to make the ext4 /var partition.
	ErrVar = errors.New("image: make /var")
)

// Errors of the rootfs and of installation (image.Build). A *PathError
// names the package and path and unwraps to one of these.
var (
	// ErrUnsafePath reports a name that is absolute, climbs with "..", is
	// empty, has control characters or is too long.
	ErrUnsafePath = errors.New("image: unsafe path")
	// ErrEscape reports a path whose resolution through the tree's
	// symlinks would leave the tree.
	ErrEscape = errors.New("image: path escapes the root through a symlink")
	// ErrHardlink reports a hardlink to something outside its package, to
	// a directory, or to a missing file.
	ErrHardlink = errors.New("image: bad hardlink")
	// ErrConflict reports a file that two packages both own, without a
	// replaces between them, or an entry of one type over another.
	ErrConflict = errors.New("image: file owned by two packages")
	// ErrTooLarge reports an entry or a tree over the size limits.
	ErrTooLarge = errors.New("image: over the size limit")
	// ErrClosed reports use of a closed Rootfs.
	ErrClosed = errors.New("image: rootfs closed")
	// ErrConfigure reports a spec the image cannot be configured for
	// (a unit that no package ships, os-release missing, bad user).
	ErrConfigure = errors.New("image: configure")
	// ErrResolve reports a spec that cannot be resolved into a lock.
	ErrResolve = errors.New("image: resolve")
)
