package oci

import "errors"

// ErrRegistry reports a registry that failed or answered something this
// package cannot use.
var ErrRegistry = errors.New("oci: registry error")
