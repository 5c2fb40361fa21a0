package osconfig

import "errors"

// ErrConfigure reports a tree that cannot be configured for a spec: a unit
// no package ships, an SSH server without ssh-keygen, a bad user, an ID
// already taken. The message says which.
var ErrConfigure = errors.New("osconfig: configure")
