package apkversion

import "errors"

// Sentinel errors of package apkversion. Test with errors.Is.
var (
	// ErrVersion reports a version apk-tools would not accept.
	ErrVersion = errors.New("apkversion: invalid version")
	// ErrConstraint reports a malformed constraint: an operator apk-tools
	// would not accept, or no operator before the version.
	ErrConstraint = errors.New("apkversion: invalid constraint")
)
