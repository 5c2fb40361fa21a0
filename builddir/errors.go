package builddir

import "errors"

// ErrInvalid reports a build directory, or contents given to [Write], that
// break the layout: a disk outside the directory, a signed subject that is
// not a plain file name, disks whose signed statements name different
// builds, no raw disk. Verification failures are errors of the
// provenance.ErrVerification tree instead.
var ErrInvalid = errors.New("builddir: invalid build directory")
