package local

import "errors"

// ErrLocked reports a catalog directory whose lock could not be taken
// before the context ended.
var ErrLocked = errors.New("local: catalog locked")
